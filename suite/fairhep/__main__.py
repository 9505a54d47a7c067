import sys

from fairhep.cli import main

sys.exit(main())
