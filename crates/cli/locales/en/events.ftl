# Sentences about events: the console timeline, `ripcord events`, the dashboard's live
# events and the reports' timelines. Identifiers and numbers arrive as arguments (already
# formatted); in Arabic each is isolated (FSI…PDI) so it reads left to right. A line the
# console indents is indented by the caller (Fluent trims leading blanks).

ev-with-detail = { $text }: { $detail }
ev-unknown = (an event this ripcord does not know)
ev-phase-started = { $phase } …
ev-progress = { $what }: { $done } of { $total }

## What a rollback phase did
ev-po-assessed = checkpoints verified; { $at_risk } business writes since the checkpoint
ev-po-approved = approved by { $by }
ev-po-frozen = writes to the components' tables are blocked
ev-po-drained = journal drained: { $at_risk } business writes to carry back
ev-po-restored = { $rows } rows restored
ev-po-restored-already = { $rows } rows restored ({ $already } tables already restored before a restart)
ev-po-replayed = { $recovered } of { $at_risk } business writes carried back, { $lost } gaps, { $conflicts } conflicts, { $review } to review
ev-po-verified = row-by-row proof: { $differences } differences; invariants: { $broken } broken
ev-po-switched-back = { $n } switch(es) moved to legacy: { $switches }; { $invalidations } cache invalidation(s) run
ev-po-switch-already = { $switch } (already)
ev-po-no-switches = no traffic switches in this plan; nothing to move
ev-po-switch-back-skipped = skipped: verification did not pass
ev-po-unfrozen = writes allowed again
ev-po-reported = { $at_risk } at risk, { $recovered } recovered, { $lost } lost, recovery rate { $rate }%
ev-po-sync-pending = switch path: legacy kept current by the sync; { $pending } business writes still to drain
ev-po-both-frozen = writes to both sides are blocked
ev-po-sync-drained = sync drained: { $applied } business writes applied now; { $recovered } of { $at_risk } since the cutover on legacy, { $lost } lost
ev-po-kept-current = switch path: nothing to restore or replay (the sync kept legacy current)
ev-po-sides-compared = legacy against the new side: { $differences } differences; invariants: { $broken } broken
ev-po-sides-compared-count-only = legacy against the new side: { $differences } differences; invariants: { $broken } broken; NOT VERIFIED: only row counts compared for { $tables }
ev-po-both-stay-frozen = skipped: verification did not pass; both sides stay frozen
ev-po-legacy-unfrozen = legacy takes writes again; the new side stays frozen (fenced) until `cutover --unfence` and a re-base

## Why a business write is a data gap, and what to do about it
ev-gap-no-row = no row with this key in the restored table
ev-gap-refused = the legacy database refused the write: { $message }
ev-gap-created-by-migration = the row was created by the migration after the checkpoint, so it does not exist in the restored table
ev-gap-table-not-restored = legacy table { $table } was not restored
ev-gap-mapping-failed = reverse mapping failed: { $error }
ev-gap-value-not-carried = column { $column }: { $error }
ev-gap-key-missing = key column { $column } has no value in the captured row
ev-gap-no-row-image = the journal entry lacks the row image it needs
ev-gap-values-without-column = applied without { $values }: the legacy table has no column for it
ev-fix-no-row = check whether the row was deleted or re-keyed by the migration; enter the change by hand
ev-fix-refused = fix the legacy constraint or the value, then enter the row by hand
ev-fix-created-by-migration = decide whether the row belongs in the legacy system; if so, enter it by hand
ev-fix-by-hand = enter the row by hand in the legacy system, then run `ripcord verify`
ev-fix-values-without-column = record the value by hand, or map it in { $section } (`columns`), or list it in `ignore` if losing it is intended

## Why a level moved
ev-lc-firing = held { $held } ms ({ $failures } breaching samples in all)
ev-lc-breaching = breaching for { $held } ms of { $hold } ms
ev-lc-could-not-measure = could not measure { $errors } times in a row: { $problem }
ev-lc-inconclusive = inconclusive { $n } times: { $problem }
ev-lc-all-green = all rules green
ev-lc-trend = trend of { $probe }

## What a progress or waiting event is about
ev-op-checkpoint = checkpoint { $table }
ev-op-differential = { $table }: differential over { $base }, { $changed } changed keys
ev-op-restore = restore { $table }
ev-op-restored = restored { $table }
ev-op-replay = replayed { $components }
ev-op-verify = verify { $table }
ev-op-baseline = baseline { $probe }
ev-op-approval = approval of { $decision } ({ $scenario })
ev-op-sync-blocked = sync of { $component }: a transaction on the new side is still open; nothing read this pass
ev-op-other = an operation this ripcord does not know

## The lines
ev-capture-installed = capture on in { $database }: { $tables }
ev-checkpoint-taken = checkpoint { $id } of { $components }: { $rows } rows, { $bytes } ({ $new_bytes } new) in { $seconds }s, verified
ev-run-started = run { $run } started
ev-step-started = step { $step } …
ev-step-done = step { $step } done in { $seconds }s
ev-step-failed = step { $step } FAILED in { $seconds }s
ev-invariant-holds = invariant { $component }/{ $name }: holds ({ $measure })
ev-invariant-broken = invariant { $component }/{ $name }: BROKEN ({ $measure })
ev-run-stopped-step = run stopped: step { $step } failed: { $error }
ev-run-stopped-by = run stopped: stopped by { $source }: { $reason }
ev-run-stopped = run stopped: { $text }
ev-switch-flipped = switch { $switch } ({ $component }) now { $position }
ev-switch-flipped-completing = switch { $switch } ({ $component }) now { $position }, completing flip { $flip }
ev-switch-flip-failed = SWITCH { $switch } ({ $component }) did not move to { $target }: { $error }
ev-switch-fell-back = FALLBACK: rule { $rule } is red: switch { $switch } ({ $component }) stepped back from { $from } to { $to }
ev-probe-window = probe { $probe }: { $n } value(s) around the stop kept for the report
ev-rollback-started = rollback { $rollback } of { $components } to { $checkpoint }: { $reason }
ev-phase-finished = { $phase } { $seconds }s  { $outcome }
ev-data-done = done { $what }: { $progress }
ev-data-running = … { $what }: { $progress }
ev-data-gap = DATA GAP { $table } { $key }: { $reason }
ev-sync-lag = sync { $component }: { $applied } applied, lag { $rows } writes / { $seconds } s
ev-sync-gap = SYNC GAP { $component } { $table } { $key }: { $reason }
ev-sync-stopped = sync { $component } stopped: { $why }
ev-sync-stopped-bad = sync { $component } STOPPED: { $why }
ev-sync-critical-gaps = { $gaps } write(s) could not be applied to legacy (first: { $table } { $key } #{ $seq }: { $reason })
ev-conflict = conflict { $table } { $key }: business and migration both changed { $columns } (business value kept)
ev-rollback-finished = rollback completed and verified in { $seconds }s (target { $target }s): { $at_risk } business writes at risk, { $recovered } recovered, { $lost } lost
ev-rollback-finished-problems = rollback completed WITH PROBLEMS in { $seconds }s (target { $target }s): { $at_risk } business writes at risk, { $recovered } recovered, { $lost } lost
ev-rto-exceeded = CRITICAL: rollback took { $seconds }s, over 120% of its { $target }s target

## The guard's lines
ev-level-changed = level { $from } → { $to }: { $cause }
ev-rule-level-changed = rule { $rule }: { $from } → { $to } ({ $cause })
ev-checkpoint-stale = checkpoint { $checkpoint } of { $component } is { $age } old, over the limit of { $limit }: take a fresh one with ripcord checkpoint -c { $component }
ev-trend-warning = trend: { $probe } reaches { $threshold } in { $eta }
ev-not-confirmed = rule { $rule } did not hold on the confirming re-check: no abort
ev-stop-requested = STOP requested by { $source }: { $reason }
ev-statement-cancelled = step { $step } cancelled { $after } ms after the stop request
ev-decision-made = decision for { $scenario }: { $decision } (by { $by })
ev-approval-requested = waiting for approval of { $decision } by { $approvers } until { $deadline }: ripcord approve|reject RUN --as NAME
ev-anyone = anyone
ev-or = or
ev-approval-approved = { $decision } approved by { $by }
ev-approval-rejected = { $decision } rejected by { $by }
ev-waiting = { $what }: { $remaining } s left
ev-continuity-passed = continuity { $workflow }: passed { $verdict }
ev-continuity-failed = continuity { $workflow }: FAILED { $verdict }

## Who stopped a run
ev-src-rule = rule { $rule } ({ $level })
ev-src-command = ripcord stop (by { $actor })
ev-src-panic-file = panic file { $path }
ev-src-signal = signal { $signal }
ev-rule-not-confirmed = not confirmed on re-check
