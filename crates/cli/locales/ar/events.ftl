# جمل الأحداث: الخط الزمني في الطرفية، و`ripcord events`، والأحداث الحية في لوحة المتابعة،
# والخطوط الزمنية في التقارير. المعرّفات والأرقام تصل وسائطَ منسّقة، ويُعزل كلٌّ منها
# (FSI…PDI) ليُقرأ من اليسار إلى اليمين. لكل رسالة هنا مقابل في en/events.ftl.

ev-with-detail = { $text }: { $detail }
ev-unknown = (حدث لا يعرفه هذا الإصدار من ripcord)
ev-phase-started = بدء المرحلة { $phase } …
ev-progress = { $what }: { $done } من { $total }

## ما أنجزته مرحلة الاسترجاع
ev-po-assessed = تم التحقق من نقاط الحفظ؛ { $at_risk } كتابة أعمال منذ نقطة الحفظ
ev-po-approved = وافق عليه { $by }
ev-po-frozen = الكتابة في جداول المكوّنات ممنوعة
ev-po-drained = تم تفريغ السجل: { $at_risk } كتابة أعمال لإعادتها
ev-po-restored = استُعيد { $rows } صف
ev-po-restored-already = استُعيد { $rows } صف ({ $already } جدول استُعيد قبل إعادة التشغيل)
ev-po-replayed = أُعيد { $recovered } من { $at_risk } كتابة أعمال، { $lost } فجوة، { $conflicts } تعارض، { $review } للمراجعة
ev-po-verified = الإثبات صفًا بصف: { $differences } فرق؛ الثوابت: { $broken } مكسور
ev-po-switched-back = نُقل { $n } مفتاح إلى النظام القديم: { $switches }؛ نُفّذ { $invalidations } إبطال للذاكرة المؤقتة
ev-po-switch-already = { $switch } (منقول من قبل)
ev-po-no-switches = لا مفاتيح توجيه في هذه الخطة؛ لا شيء لنقله
ev-po-switch-back-skipped = تُخطّيت: لم ينجح التحقق
ev-po-unfrozen = الكتابة مسموحة من جديد
ev-po-reported = { $at_risk } معرّضة للخطر، { $recovered } مستعادة، { $lost } مفقودة، نسبة الاستعادة { $rate }٪
ev-po-sync-pending = مسار التبديل: المزامنة أبقت النظام القديم محدّثًا؛ ما زال { $pending } كتابة أعمال للتفريغ
ev-po-both-frozen = الكتابة في الجانبين ممنوعة
ev-po-sync-drained = تم تفريغ المزامنة: طُبّقت الآن { $applied } كتابة أعمال؛ { $recovered } من { $at_risk } منذ التحويل في النظام القديم، { $lost } مفقودة
ev-po-kept-current = مسار التبديل: لا شيء للاستعادة أو الإعادة (المزامنة أبقت النظام القديم محدّثًا)
ev-po-sides-compared = النظام القديم مقابل الجانب الجديد: { $differences } فرق؛ الثوابت: { $broken } مكسور
ev-po-sides-compared-count-only = النظام القديم مقابل الجانب الجديد: { $differences } فرق؛ الثوابت: { $broken } مكسور؛ لم يُتحقق منه: قورنت أعداد الصفوف فقط في { $tables }
ev-po-both-stay-frozen = تُخطّيت: لم ينجح التحقق؛ يبقى الجانبان مجمّدين
ev-po-legacy-unfrozen = النظام القديم يقبل الكتابة من جديد؛ ويبقى الجانب الجديد مجمّدًا (معزولًا) حتى `cutover --unfence` وإعادة التأسيس

## لماذا صارت كتابة أعمال فجوة بيانات، وما العمل
ev-gap-no-row = لا صف بهذا المفتاح في الجدول المستعاد
ev-gap-refused = رفضت قاعدة البيانات القديمة الكتابة: { $message }
ev-gap-created-by-migration = أنشأ الترحيلُ الصفَّ بعد نقطة الحفظ، فلا وجود له في الجدول المستعاد
ev-gap-table-not-restored = لم يُستعد الجدول القديم { $table }
ev-gap-mapping-failed = فشل التحويل العكسي: { $error }
ev-gap-value-not-carried = العمود { $column }: { $error }
ev-gap-key-missing = عمود المفتاح { $column } بلا قيمة في الصف الملتقط
ev-gap-no-row-image = قيد السجل يفتقد صورة الصف التي يحتاجها
ev-gap-values-without-column = طُبّقت دون { $values }: لا عمود لها في الجدول القديم
ev-fix-no-row = تحقّق هل حذف الترحيلُ الصفَّ أو غيّر مفتاحه؛ أدخِل التغيير يدويًا
ev-fix-refused = أصلِح القيد في النظام القديم أو القيمة، ثم أدخِل الصف يدويًا
ev-fix-created-by-migration = قرّر هل ينتمي الصف إلى النظام القديم؛ إن كان كذلك فأدخِله يدويًا
ev-fix-by-hand = أدخِل الصف يدويًا في النظام القديم، ثم شغّل `ripcord verify`
ev-fix-values-without-column = سجّل القيمة يدويًا، أو اربطها في { $section } (`columns`)، أو أدرجها في `ignore` إن كان فقدانها مقصودًا

## لماذا تغيّر المستوى
ev-lc-firing = استمر { $held } ms ({ $failures } عينة مخالفة في المجموع)
ev-lc-breaching = مخالفة منذ { $held } ms من { $hold } ms
ev-lc-could-not-measure = تعذّر القياس { $errors } مرات متتالية: { $problem }
ev-lc-inconclusive = غير حاسم { $n } مرات: { $problem }
ev-lc-all-green = كل القواعد خضراء
ev-lc-trend = اتجاه { $probe }

## ما تخصّه أحداث التقدّم والانتظار
ev-op-checkpoint = نقطة حفظ { $table }
ev-op-differential = { $table }: نقطة حفظ تفاضلية على { $base }، { $changed } مفتاح متغيّر
ev-op-restore = استعادة { $table }
ev-op-restored = استُعيد { $table }
ev-op-replay = أُعيدت كتابات { $components }
ev-op-verify = التحقق من { $table }
ev-op-baseline = خط الأساس لـ { $probe }
ev-op-approval = الموافقة على { $decision } ({ $scenario })
ev-op-sync-blocked = مزامنة { $component }: ما زالت معاملة مفتوحة في الجانب الجديد؛ لم يُقرأ شيء في هذه الدورة
ev-op-other = عملية لا يعرفها هذا الإصدار من ripcord

## الأسطر
ev-capture-installed = الالتقاط مفعّل في { $database }: { $tables }
ev-checkpoint-taken = نقطة الحفظ { $id } لـ { $components }: { $rows } صف، { $bytes } ({ $new_bytes } جديد) في { $seconds } ث، تم التحقق منها
ev-run-started = بدأ التشغيل { $run }
ev-step-started = الخطوة { $step } …
ev-step-done = اكتملت الخطوة { $step } في { $seconds } ث
ev-step-failed = فشلت الخطوة { $step } في { $seconds } ث
ev-invariant-holds = الثابت { $component }/{ $name }: متحقق ({ $measure })
ev-invariant-broken = الثابت { $component }/{ $name }: مكسور ({ $measure })
ev-run-stopped-step = توقّف التشغيل: فشلت الخطوة { $step }: { $error }
ev-run-stopped-by = توقّف التشغيل: مصدر الإيقاف { $source }: { $reason }
ev-run-stopped = توقّف التشغيل: { $text }
ev-switch-flipped = المفتاح { $switch } ({ $component }) الآن على { $position }
ev-switch-flipped-completing = المفتاح { $switch } ({ $component }) الآن على { $position }، مع إكمال التحويل { $flip }
ev-switch-flip-failed = لم يتحوّل المفتاح { $switch } ({ $component }) إلى { $target }: { $error }
ev-switch-fell-back = تراجع تلقائي: القاعدة { $rule } حمراء: أُعيد المفتاح { $switch } ({ $component }) من { $from } إلى { $to }
ev-probe-window = المِجَسّ { $probe }: حُفظت قيمه حول الإيقاف ({ $n }) للتقرير
ev-rollback-started = الاسترجاع { $rollback } لـ { $components } إلى { $checkpoint }: { $reason }
ev-phase-finished = { $phase } { $seconds } ث  { $outcome }
ev-data-done = تم: { $what }: { $progress }
ev-data-running = … { $what }: { $progress }
ev-data-gap = فجوة بيانات { $table } { $key }: { $reason }
ev-sync-lag = مزامنة { $component }: طُبّق { $applied }، التأخر { $rows } كتابة / { $seconds } ث
ev-sync-gap = فجوة مزامنة { $component } { $table } { $key }: { $reason }
ev-sync-stopped = توقّفت مزامنة { $component }: { $why }
ev-sync-stopped-bad = توقّفت مزامنة { $component } بخلل: { $why }
ev-sync-critical-gaps = تعذّر تطبيق { $gaps } كتابة على النظام القديم (أولها: { $table } { $key } رقم { $seq }: { $reason })
ev-conflict = تعارض { $table } { $key }: غيّر العمل والترحيل كلاهما { $columns } (أُبقيت قيمة العمل)
ev-rollback-finished = اكتمل الاسترجاع وتم التحقق منه في { $seconds } ث (الهدف { $target } ث): { $at_risk } كتابة أعمال معرّضة للخطر، { $recovered } مستعادة، { $lost } مفقودة
ev-rollback-finished-problems = اكتمل الاسترجاع مع مشكلات في { $seconds } ث (الهدف { $target } ث): { $at_risk } كتابة أعمال معرّضة للخطر، { $recovered } مستعادة، { $lost } مفقودة
ev-rto-exceeded = حرج: استغرق الاسترجاع { $seconds } ث، أكثر من 120٪ من هدفه { $target } ث

## أسطر الحراسة
ev-level-changed = المستوى { $from } ← { $to }: { $cause }
ev-rule-level-changed = القاعدة { $rule }: { $from } ← { $to } ({ $cause })
ev-checkpoint-stale = عمر نقطة الحفظ { $checkpoint } لـ { $component } هو { $age }، أكثر من الحد { $limit }: خذ نقطة جديدة بالأمر ripcord checkpoint -c { $component }
ev-trend-warning = اتجاه: يبلغ { $probe } القيمة { $threshold } خلال { $eta }
ev-not-confirmed = لم تثبت القاعدة { $rule } عند إعادة الفحص للتأكيد: لا إيقاف
ev-stop-requested = طُلب الإيقاف من { $source }: { $reason }
ev-statement-cancelled = أُلغيت الخطوة { $step } بعد { $after } ms من طلب الإيقاف
ev-decision-made = قرار { $scenario }: { $decision } (من { $by })
ev-approval-requested = بانتظار الموافقة على { $decision } من { $approvers } حتى { $deadline }: ripcord approve|reject RUN --as NAME
ev-anyone = أي شخص
ev-or = أو
ev-approval-approved = وافق { $by } على { $decision }
ev-approval-rejected = رفض { $by } { $decision }
ev-waiting = { $what }: بقي { $remaining } ث
ev-continuity-passed = استمرارية { $workflow }: نجحت { $verdict }
ev-continuity-failed = استمرارية { $workflow }: فشلت { $verdict }

## من أوقف التشغيل
ev-src-rule = القاعدة { $rule } ({ $level })
ev-src-command = ripcord stop (بواسطة { $actor })
ev-src-panic-file = ملف الطوارئ { $path }
ev-src-signal = الإشارة { $signal }
ev-rule-not-confirmed = لم تثبت عند إعادة الفحص
