"""``python -m saas_metrics.bench [--scale medium] [--repeats 1] ...``"""

from saas_metrics.bench.harness import main

raise SystemExit(main())
