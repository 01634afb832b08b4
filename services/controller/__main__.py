import sys

from services.controller.main import main

sys.exit(main())
