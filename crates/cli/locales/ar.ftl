# تنبيهات ripcord بالعربية. لكل رسالة هنا مقابل في en.ftl بالعناصر النائبة نفسها.

cause = { $cause ->
    [red_level] مستوى حراسة أحمر
    [emergency_stop] إيقاف طارئ
   *[rollback] عملية استرجاع
}

ack-hint = للإقرار: ripcord ack { $incident } --as YOUR-NAME

ack-link = أو أقِرّ من هنا (الرابط يعمل مرة واحدة): { $link }

emergency-detected = تم رصد حالة طوارئ في { $plan }: { cause }.
    الحادثة: { $incident }
    ما حدث: { $reason }
    وقت الرصد: { $detected }
    الأنظمة المتأثرة: { $components }
    أنت في مستوى التصعيد { $level }.
    { ack-hint }
    .subject = [ripcord] حالة طوارئ في { $plan } ({ $incident })

reminder = تذكير رقم { $round }: الحادثة { $incident } في { $plan } ما زالت مفتوحة ولم يُقَرّ بها.
    ما حدث: { $reason }
    وقت الرصد: { $detected }
    الأنظمة المتأثرة: { $components }
    { ack-hint }
    .subject = [ripcord] ما زالت مفتوحة: { $incident } في { $plan }

escalated = صُعّدت إليك (المستوى { $level }): لم يُقَرّ بالحادثة { $incident } في { $plan } منذ { $minutes ->
        [zero] أقل من دقيقة
        [one] دقيقة واحدة
        [two] دقيقتين
        [few] { $minutes } دقائق
        [many] { $minutes } دقيقة
       *[other] { $minutes } دقيقة
    }.
    السبب: { cause }: { $reason }
    وقت الرصد: { $detected }
    الأنظمة المتأثرة: { $components }
    { ack-hint }
    .subject = [ripcord] تصعيد إلى المستوى { $level }: { $incident } في { $plan }

rollback-started = بدأ الاسترجاع { $rollback } في { $plan } للحادثة { $incident }، إلى نقطة الحفظ { $checkpoint }.
    المكونات: { $components }
    .subject = [ripcord] بدأ الاسترجاع: { $incident } في { $plan }

rollback-completed = { $ok ->
        [yes] اكتمل
       *[no] انتهى مع مشكلات
    } الاسترجاع { $rollback } في { $seconds } ثانية مقابل هدف { $target } ثانية ({ $within ->
        [yes] ضمن الهدف
       *[no] تجاوز الهدف
    }).
    عمليات الكتابة المعرضة للخطر: { $at_risk }؛ المستعادة: { $recovered }؛ المفقودة: { $lost ->
        [0] لا شيء
        [one] عملية واحدة
        [two] عمليتان
        [few] { $lost } عمليات
        [many] { $lost } عملية
       *[other] { $lost } عملية
    }.
    الحادثة: { $incident }
    .subject = [ripcord] { $ok ->
        [yes] اكتمل الاسترجاع
       *[no] انتهى الاسترجاع مع مشكلات
    }: { $incident } في { $plan }

issue-resolved = تم حل الحادثة { $incident } في { $plan } ({ cause })، رُصدت في { $detected } وحُلّت في { $resolved }، بعد { $minutes ->
        [zero] أقل من دقيقة
        [one] دقيقة واحدة
        [two] دقيقتين
        [few] { $minutes } دقائق
        [many] { $minutes } دقيقة
       *[other] { $minutes } دقيقة
    }.
    { $figures ->
        [yes] المعرضة للخطر { $at_risk }، المستعادة { $recovered }، المفقودة { $lost }؛ استغرق الاسترجاع { $seconds } ثانية (الهدف { $target } ثانية).
       *[no] لم تكن هناك حاجة إلى الاسترجاع.
    }
    .subject = [ripcord] تم الحل: { $incident } في { $plan }

user-notice = { $stage ->
        [started] نعمل على معالجة مشكلة في { $plan } منذ { $detected }. قد يتأخر بعض العمل، وسنبلغكم عند حلها.
        [update] تحديث بشأن المشكلة في { $plan } (منذ { $detected }): ما زال فريقنا يعمل على حلها.
       *[resolved] تم حل المشكلة في { $plan }. شكرًا لصبركم.
    }
    .subject = { $stage ->
        [resolved] { $plan }: تم الحل
       *[other] { $plan }: إشعار خدمة
    }

test = هذه رسالة اختبار من ripcord ({ $plan }) عبر القناة { $channel }. إذا قرأتها فالقناة تعمل.
    .subject = [ripcord] رسالة اختبار ({ $channel })

level-changed = ارتفع مستوى الحراسة في { $plan } إلى { $level ->
        [yellow] الأصفر: راقبوا عن كثب
       *[orange] البرتقالي: استعدوا للاسترجاع
    } في { $at }.
    السبب: { $reason }
    لا توجد حادثة مفتوحة: المستوى الأحمر أو الإيقاف أو الاسترجاع يفتح واحدة.
    .subject = [ripcord] { $plan }: المستوى { $level ->
        [yellow] الأصفر
       *[orange] البرتقالي
    }

approval-needed = مطلوب اعتماد في { $plan }: توقف التشغيل { $run } ({ $scenario }) وينتظر من يعتمد { $decision }.
    المعتمدون: { $approvers }
    المهلة: { $deadline }؛ إن لم يصل رد قبلها يُطبَّق الخيار الافتراضي في الخطة.
    للاعتماد: ripcord approve { $run } --as YOUR-NAME
    .subject = [ripcord] مطلوب اعتماد قبل { $deadline }: { $run } في { $plan }

trend-warning = تحذير اتجاه في { $plan }: المسبار { $probe } يتجه نحو حدّه خلال { $minutes ->
        [zero] أقل من دقيقة
        [one] دقيقة واحدة
        [two] دقيقتين
        [few] { $minutes } دقائق
        [many] { $minutes } دقيقة
       *[other] { $minutes } دقيقة
    } تقريبًا.
    الحدّ: { $threshold }
    لم يتوقف شيء بعد: راقب عن قرب.
    .subject = [ripcord] { $plan }: { $probe } يتجه نحو حدّه

checkpoint-stale = أحدث نقطة حفظ لـ { $component } في { $plan } ({ $checkpoint }) عمرها { $hours ->
        [zero] أقل من ساعة
        [one] ساعة واحدة
        [two] ساعتان
        [few] { $hours } ساعات
        [many] { $hours } ساعة
       *[other] { $hours } ساعة
    }: الاسترجاع الآن سيعود إلى ذلك الحد.
    لأخذ نقطة حفظ جديدة: ripcord checkpoint
    .subject = [ripcord] نقطة حفظ قديمة: { $component } في { $plan }

leadership-notice = إشعار للقيادة: { $emergency_type } في { $plan }.
    وقت الرصد: { $detected }
    الأنظمة المتأثرة: { $systems }
    الأثر على العمل: { $impact ->
        [unknown] غير معروف بعد
       *[other] { $impact }
    }
    الحل المتوقع: { $estimated ->
        [unknown] غير معروف بعد
       *[other] { $estimated }
    }
    التحديث التالي: { $next_update ->
        [unknown] غير معروف بعد
       *[other] { $next_update }
    }
    .subject = [ripcord] إشعار للقيادة: { $emergency_type } في { $plan }

all-staff-notice = إلى جميع الموظفين: نعالج { $emergency_type } في { $plan } منذ { $detected }.
    الأنظمة المتأثرة: { $systems }
    العودة المتوقعة: { $estimated ->
        [unknown] سنبلغكم حالما نعرف
       *[other] { $estimated }
    }
    التحديث التالي: { $next_update ->
        [unknown] عندما تتوفر معلومات أكثر
       *[other] { $next_update }
    }
    .subject = { $plan }: إشعار خدمة

technical-brief = موجز للفريق التقني: { $emergency_type } في { $plan }.
    وقت الرصد: { $detected }
    وقت الحل: { $resolved ->
        [unknown] لم يُحل بعد
       *[other] { $resolved }
    }
    الأنظمة المتأثرة: { $systems }
    السبب الجذري: { $root_cause ->
        [unknown] غير معروف بعد
       *[other] { $root_cause }
    }
    الإجراءات المتخذة: { $actions ->
        [unknown] لا شيء مسجل
       *[other] { $actions }
    }
    الإجراءات الوقائية: { $preventive ->
        [unknown] ستُحدد لاحقًا
       *[other] { $preventive }
    }
    .subject = [ripcord] موجز تقني: { $emergency_type } في { $plan }
