import sys

from hubactors.cli._main import main

sys.exit(main())
