"""``python -m medscribe_engine --port P --data-dir D [--host H] [--workers N]``"""

import sys

from medscribe_engine.server import main

if __name__ == "__main__":
    sys.exit(main())
