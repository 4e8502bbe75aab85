import sys

from adamspec.cli import main

sys.exit(main())
