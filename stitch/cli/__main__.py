import sys

from stitch.cli import main

sys.exit(main())
