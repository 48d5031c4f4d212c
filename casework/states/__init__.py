"""Case state machines, built with ``transitions`` from each school's workflow file."""
