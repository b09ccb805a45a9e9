"""Reports finance reads: each a module with a `report(tx, today)` returning rows.

    wip          unbilled work by client and project, aged, blocked and held parts
    realization  billed against the rate-card value of the work, per contract/project
    utilization  billable share of worked hours per person and cost center
    leakage      open exceptions by code; written off, beyond caps, written down
    caps         limits, usage, pending work and burn of every contract cap

They read the pipeline's own view of the work (`book.Book`), never price it themselves.
"""
