"""The `siyu` console command: Django's management commands without knowing where manage.py is."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.settings")
    from django.core.management import execute_from_command_line

    argv = list(sys.argv)
    argv[0] = "siyu"
    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
