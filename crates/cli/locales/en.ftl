# ripcord's notifications in English. Every message here exists in ar.ftl with the same
# placeholders (a test checks). `.subject` is the e-mail subject and the first line
# elsewhere.

cause = { $cause ->
    [red_level] a red guard level
    [emergency_stop] an emergency stop
   *[rollback] a rollback
}

ack-hint = Acknowledge with: ripcord ack { $incident } --as YOUR-NAME

ack-link = Or acknowledge here (the link works once): { $link }

emergency-detected = Emergency detected in { $plan }: { cause }.
    Incident: { $incident }
    What happened: { $reason }
    Detected at: { $detected }
    Affected systems: { $components }
    You are escalation level { $level }.
    { ack-hint }
    .subject = [ripcord] EMERGENCY in { $plan } ({ $incident })

reminder = Reminder { $round }: incident { $incident } in { $plan } is still open and not acknowledged.
    What happened: { $reason }
    Detected at: { $detected }
    Affected systems: { $components }
    { ack-hint }
    .subject = [ripcord] still open: { $incident } in { $plan }

escalated = Escalated to you (level { $level }): incident { $incident } in { $plan } was not acknowledged for { $minutes ->
        [one] { $minutes } minute
       *[other] { $minutes } minutes
    }.
    Cause: { cause }: { $reason }
    Detected at: { $detected }
    Affected systems: { $components }
    { ack-hint }
    .subject = [ripcord] ESCALATED to level { $level }: { $incident } in { $plan }

rollback-started = Rollback { $rollback } started in { $plan } for incident { $incident }, back to checkpoint { $checkpoint }.
    Components: { $components }
    .subject = [ripcord] rollback started: { $incident } in { $plan }

rollback-completed = Rollback { $rollback } { $ok ->
        [yes] completed
       *[no] ended WITH PROBLEMS
    } in { $seconds } s against a target of { $target } s ({ $within ->
        [yes] within target
       *[no] OVER target
    }).
    Business writes at risk: { $at_risk }; recovered: { $recovered }; lost: { $lost ->
        [0] none
        [one] { $lost } write
       *[other] { $lost } writes
    }.
    Incident: { $incident }
    .subject = [ripcord] rollback { $ok ->
        [yes] completed
       *[no] ended with problems
    }: { $incident } in { $plan }

issue-resolved = Resolved: incident { $incident } in { $plan } ({ cause }), detected at { $detected }, resolved at { $resolved }, after { $minutes ->
        [one] { $minutes } minute
       *[other] { $minutes } minutes
    }.
    { $figures ->
        [yes] Writes at risk { $at_risk }, recovered { $recovered }, lost { $lost }; rollback took { $seconds } s (target { $target } s).
       *[no] No rollback was needed.
    }
    .subject = [ripcord] resolved: { $incident } in { $plan }

user-notice = { $stage ->
        [started] We are dealing with a problem in { $plan } since { $detected }. Some work may be delayed; we will tell you when it is resolved.
        [update] Update on the problem in { $plan } (since { $detected }): our team is still working on it.
       *[resolved] The problem in { $plan } is resolved. Thank you for your patience.
    }
    .subject = { $stage ->
        [resolved] { $plan }: resolved
       *[other] { $plan }: service notice
    }

test = This is a test message from ripcord ({ $plan }) through channel { $channel }. If you read it, the channel works.
    .subject = [ripcord] test message ({ $channel })

level-changed = The guard level of { $plan } went to { $level ->
        [yellow] YELLOW: watch closer
       *[orange] ORANGE: prepare the rollback
    } at { $at }.
    Why: { $reason }
    No incident is open: a red level, a stop or a rollback opens one.
    .subject = [ripcord] { $plan } is { $level ->
        [yellow] yellow
       *[orange] orange
    }

approval-needed = Approval needed in { $plan }: run { $run } stopped ({ $scenario }) and waits for someone to approve its { $decision }.
    Approvers: { $approvers }
    Deadline: { $deadline }; without an answer by then the plan's default applies.
    Approve with: ripcord approve { $run } --as YOUR-NAME
    .subject = [ripcord] approval needed by { $deadline }: { $run } in { $plan }

trend-warning = Trend warning in { $plan }: probe { $probe } is heading for its threshold in about { $minutes ->
        [one] { $minutes } minute
       *[other] { $minutes } minutes
    }.
    Threshold: { $threshold }
    Nothing is stopped yet: watch closer.
    .subject = [ripcord] { $plan }: { $probe } is trending toward its threshold

checkpoint-stale = The newest checkpoint of { $component } in { $plan } ({ $checkpoint }) is { $hours ->
        [one] { $hours } hour
       *[other] { $hours } hours
    } old: a rollback now would go back that far.
    Take a fresh one with: ripcord checkpoint
    .subject = [ripcord] stale checkpoint: { $component } in { $plan }

leadership-notice = Leadership notice: { $emergency_type } in { $plan }.
    Detected at: { $detected }
    Affected systems: { $systems }
    Business impact: { $impact ->
        [unknown] not known yet
       *[other] { $impact }
    }
    Estimated resolution: { $estimated ->
        [unknown] not known yet
       *[other] { $estimated }
    }
    Next update: { $next_update ->
        [unknown] not known yet
       *[other] { $next_update }
    }
    .subject = [ripcord] leadership notice: { $emergency_type } in { $plan }

all-staff-notice = To all staff: we are dealing with { $emergency_type } in { $plan } since { $detected }.
    Affected systems: { $systems }
    Expected back: { $estimated ->
        [unknown] we will tell you as soon as we know
       *[other] { $estimated }
    }
    Next update: { $next_update ->
        [unknown] when we know more
       *[other] { $next_update }
    }
    .subject = { $plan }: service notice

technical-brief = Technical-team brief: { $emergency_type } in { $plan }.
    Detected at: { $detected }
    Resolved at: { $resolved ->
        [unknown] not yet
       *[other] { $resolved }
    }
    Affected systems: { $systems }
    Root cause: { $root_cause ->
        [unknown] not known yet
       *[other] { $root_cause }
    }
    Actions taken: { $actions ->
        [unknown] none recorded
       *[other] { $actions }
    }
    Preventive measures: { $preventive ->
        [unknown] to be decided
       *[other] { $preventive }
    }
    .subject = [ripcord] technical brief: { $emergency_type } in { $plan }
