"""`tagstream up` starts the console as one more component; its documented local reviewer signs in."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.parse
import urllib.request

import pytest

from services.review.local import LOCAL_PASSWORD, LOCAL_REVIEWER

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_the_local_stack_runs_the_console_and_its_local_reviewer_signs_in(stack_factory):
    stack = stack_factory(["broker", "review"], review=True)
    status = {s.name: s for s in stack.status()}
    assert status["review"].ready and LOCAL_REVIEWER in status["review"].address
    url = f"http://127.0.0.1:{stack.settings.review_port}"
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with browser.open(f"{url}/next", timeout=5) as page:  # not signed in: the sign-in form
        assert page.url.endswith("/signin")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.read().decode())
    assert csrf is not None
    form = urllib.parse.urlencode({"csrf": csrf[1], "name": LOCAL_REVIEWER, "password": LOCAL_PASSWORD}).encode()
    with browser.open(f"{url}/signin", data=form, timeout=10) as page:
        assert page.url.endswith("/next") and "Nothing to review" in page.read().decode()
