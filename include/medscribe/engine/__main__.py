"""``python -m medscribe.engine --port P --data-dir D [--host H] [--workers N]``"""

import sys

from medscribe.engine.server import main

if __name__ == "__main__":
    sys.exit(main())
