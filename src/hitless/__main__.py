from hitless.cli.main import main

raise SystemExit(main())
