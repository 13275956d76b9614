"""`kitt web`'s login page: a local file that posts the owner's token to the UI's login form.

The token never travels in a URL (a browser keeps URLs in its history, and other users see argv): the
file, 0600 in KITT_HOME, holds a form that the browser submits on load. The server answers it with the
session cookie.
"""

import html
import os
from pathlib import Path

FILE = "web-login.html"

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Logging in to KITT</title></head>
<body onload="document.forms[0].submit()">
<form method="post" action="{action}">
<input type="hidden" name="token" value="{token}">
<input type="hidden" name="next" value="/">
<noscript><p>Scripts are off:</p></noscript>
<button type="submit">Log in to KITT</button>
</form>
</body>
</html>
"""


def write(home: Path, url: str, token: str) -> Path:
    """The login page for the UI at `url`, readable by its owner only."""
    target = home / FILE
    text = _PAGE.format(action=html.escape(url.rstrip("/") + "/login"), token=html.escape(token))
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(target, 0o600)  # an older file keeps its bits through O_CREAT: tighten them
    return target
