"""Annotator accounts: Label Studio's own invite-link sign-up (sign-up without a link is off).

The admin creates an invite link; the annotator signs up with it in the browser. Tests and
scripted annotation use the same path over HTTP, then read the new user's own API token, so
every annotation is made by the named annotator's account, not by the admin on their behalf.

The link is not one-time. Label Studio Community builds it from the organization's single
sign-up token (organizations/api.py, users/views.py ``user_signup``): anyone holding it can
create any number of accounts until the token is reset, which ``reset_invite`` does (the
link then stops working; accounts made with it stay). Measured in
tests/labelstudio/test_queue.py.
"""

from __future__ import annotations

import re

import httpx

from sahelwire.labelstudio.client import Connection, ConnectionProblem


def invite_url(conn: Connection) -> str:
    r = httpx.get(
        f"{conn.url}/api/invite", headers={"Authorization": f"Token {conn.api_key}"}, timeout=30
    )
    if r.status_code != 200:
        raise ConnectionProblem(f"could not create an invite link (HTTP {r.status_code})")
    return f"{conn.url}{r.json()['invite_url']}"


def reset_invite(conn: Connection) -> str:
    """A new invite link; every earlier link stops working (its accounts stay)."""
    r = httpx.post(
        f"{conn.url}/api/invite/reset-token",
        headers={"Authorization": f"Token {conn.api_key}"},
        json={},
        timeout=30,
    )
    if r.status_code not in (200, 201):
        raise ConnectionProblem(f"could not reset the invite link (HTTP {r.status_code})")
    return f"{conn.url}{r.json()['invite_url']}"


def _csrf(client: httpx.Client, url: str) -> str:
    client.get(url)
    token = client.cookies.get("csrftoken")
    if not token:
        raise ConnectionProblem(f"{url}: no CSRF cookie")
    return str(token)


def sign_up(conn: Connection, email: str, password: str, *, link: str | None = None) -> str:
    """Sign up ``email`` through an invite link (``link``, else a current one) and return
    that user's own API token."""
    link = link or invite_url(conn)
    with httpx.Client(follow_redirects=True, timeout=60) as web:
        form = {"email": email, "password": password, "csrfmiddlewaretoken": _csrf(web, link)}
        r = web.post(link, data=form, headers={"Referer": link})
        if "/user/signup" in str(r.url):
            # Already registered: log in instead.
            login = f"{conn.url}/user/login/"
            form["csrfmiddlewaretoken"] = _csrf(web, login)
            r = web.post(login, data=form, headers={"Referer": login})
            if "/user/login" in str(r.url):
                errors = re.findall(r'class="[^"]*error[^"]*">\s*([^<]+)', r.text)
                raise ConnectionProblem(
                    f"could not sign up or log in {email}: {' '.join(errors)[:200]}"
                )
        t = web.get(f"{conn.url}/api/current-user/token")
        if t.status_code != 200:
            raise ConnectionProblem(
                f"could not read the API token of {email} (HTTP {t.status_code})"
            )
        return str(t.json()["token"])
