"""siyu (私域): a self-hosted operating system for private-domain commerce."""

__version__ = "0.1.0"
