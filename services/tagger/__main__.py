import sys

from services.tagger.main import main

sys.exit(main())
