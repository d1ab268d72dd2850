"""H5 mall pages. Thin: parse the request, call the owning app's service, render."""
