"""`python -m duckmesh.cli`: the same as the `duckmesh` command."""

from duckmesh.cli.root import main

raise SystemExit(main())
