import sys

from blockflow.cloud.server import main

sys.exit(main())
