"""WeChat web authorisation (公众号网页授权) for H5 login: code → openid / unionid (and profile).

Built on `wechatpy.oauth.WeChatOAuth`. The adapter is chosen by `SIYU_WECHAT_OAUTH`:

* ``wechat`` — the real API at api.weixin.qq.com with the official account's app id and secret.
* ``fake`` — development and demo: the authorise step is a local page, and the same wechatpy
  client talks to `FakeWeChatApi`, a local stand-in that answers exactly as WeChat's API does
  (error codes included), so the code path from callback to customer is the production one.
* empty — WeChat login is off (the button is hidden).

Tests use the ``fake`` transport as well; nothing here may reach the network in tests.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlparse

import requests
from django.conf import settings
from django.core import signing
from django.utils.translation import gettext as _
from wechatpy.exceptions import WeChatOAuthException
from wechatpy.oauth import WeChatOAuth

from siyu.core.errors import DomainError

SCOPES = ("snsapi_base", "snsapi_userinfo")
HTTP_TIMEOUT_SECONDS = 5
FAKE_APP_ID = "wxfakedev0000000001"


class WeChatLoginFailed(DomainError):
    """WeChat did not confirm who the person is."""

    code = "wechat_login_failed"
    status = 400

    def __init__(self, message: str | None = None, **kwargs) -> None:
        super().__init__(
            message or _("WeChat did not confirm who you are. Try again, or use your phone."),
            **kwargs,
        )


@dataclass(frozen=True)
class WeChatProfile:
    """What WeChat tells us about the person who authorised: openid always; unionid when the
    official account is bound to an Open Platform account; nickname and avatar with
    snsapi_userinfo only."""

    openid: str
    unionid: str = ""
    nickname: str = ""
    avatar_url: str = ""
    scope: str = "snsapi_base"


class _TimeoutAdapter(requests.adapters.HTTPAdapter):
    """wechatpy sets no timeout; a hung WeChat call must not hold a web worker forever."""

    def send(self, request, **kwargs):
        kwargs["timeout"] = kwargs.get("timeout") or HTTP_TIMEOUT_SECONDS
        return super().send(request, **kwargs)


class WeChatOAuthAdapter:
    """Turns an authorisation code into a `WeChatProfile` through wechatpy."""

    def __init__(
        self,
        *,
        app_id: str,
        secret: str,
        scope: str = "snsapi_base",
        transport: requests.adapters.BaseAdapter | None = None,
        authorize_endpoint: str | None = None,
    ) -> None:
        if scope not in SCOPES:
            raise ValueError(f"unknown WeChat OAuth scope {scope!r}")
        self.app_id = app_id
        self.secret = secret
        self.scope = scope
        self.transport = transport or _TimeoutAdapter()
        self.authorize_endpoint = authorize_endpoint

    @property
    def is_fake(self) -> bool:
        return isinstance(self.transport, FakeWeChatApi)

    def _client(self, redirect_uri: str = "", state: str = "") -> WeChatOAuth:
        client = WeChatOAuth(self.app_id, self.secret, redirect_uri, scope=self.scope, state=state)
        client._http.mount(WeChatOAuth.API_BASE_URL, self.transport)
        return client

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        """Where to send the browser: WeChat asks the person (or, for snsapi_base, silently
        redirects back) and returns to `redirect_uri` with ?code=...&state=..."""
        url = self._client(redirect_uri, state).authorize_url
        if self.authorize_endpoint:
            url = url.replace(
                WeChatOAuth.OAUTH_BASE_URL + "oauth2/authorize", self.authorize_endpoint, 1
            )
        return url

    def exchange(self, code: str) -> WeChatProfile:
        """Code → access token (with openid, maybe unionid) → user info when the scope allows."""
        if not code or len(code) > 512:
            raise WeChatLoginFailed()
        client = self._client()
        try:
            token = client.fetch_access_token(code)
            scopes = set(str(token.get("scope", "")).split(","))
            profile = {"openid": token["openid"], "unionid": token.get("unionid", "")}
            if "snsapi_userinfo" in scopes:
                info = client.get_user_info(openid=token["openid"])
                profile.update(
                    unionid=info.get("unionid") or profile["unionid"],
                    nickname=info.get("nickname", ""),
                    avatar_url=info.get("headimgurl", ""),
                )
        except (WeChatOAuthException, requests.RequestException, KeyError, ValueError) as exc:
            raise WeChatLoginFailed(
                _("WeChat did not confirm who you are (%(reason)s). Please try again.")
                % {"reason": getattr(exc, "errmsg", None) or type(exc).__name__}
            ) from exc
        return WeChatProfile(
            openid=profile["openid"],
            unionid=profile.get("unionid") or "",
            nickname=(profile.get("nickname") or "")[:100],
            avatar_url=(profile.get("avatar_url") or "")[:500],
            scope="snsapi_userinfo" if "snsapi_userinfo" in scopes else "snsapi_base",
        )


# --- the local stand-in for WeChat's API --------------------------------------------------------


def fake_identity(app_id: str, account: str) -> tuple[str, str]:
    """Stable (openid, unionid) for a pretend WeChat account name: the same name logs in as the
    same person, and openids differ per app id as real ones do."""
    openid = "o" + hashlib.sha256(f"{app_id}:{account}".encode()).hexdigest()[:27]
    unionid = "u" + hashlib.sha256(f"union:{account}".encode()).hexdigest()[:27]
    return openid, unionid


class FakeWeChatApi(requests.adapters.BaseAdapter):
    """Answers sns/oauth2/access_token and sns/userinfo like api.weixin.qq.com.

    Codes are issued by `issue_code()` (what WeChat does when the person authorises), are signed
    so several processes agree on them, expire after 5 minutes and work once, as WeChat's do.
    """

    CODE_SALT = "siyu.mall.fake-wechat-code"
    TOKEN_SALT = "siyu.mall.fake-wechat-token"

    def __init__(self, app_id: str, secret: str) -> None:
        super().__init__()
        self.app_id = app_id
        self.secret = secret
        self._used: set[str] = set()
        self._lock = threading.Lock()
        self.calls: list[str] = []

    def issue_code(
        self, account: str, *, scope: str = "snsapi_base", with_unionid: bool = True
    ) -> str:
        openid, unionid = fake_identity(self.app_id, account)
        payload = {
            "app": self.app_id,
            "openid": openid,
            "unionid": unionid if with_unionid else "",
            "nickname": account,
            "scope": scope,
            "n": secrets.token_hex(4),
        }
        return signing.dumps(payload, salt=self.CODE_SALT, compress=True)

    def send(self, request, **kwargs):
        url = urlparse(request.url)
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.calls.append(url.path)
        if url.path == "/sns/oauth2/access_token":
            body = self._access_token(params)
        elif url.path == "/sns/userinfo":
            body = self._userinfo(params)
        else:
            body = {"errcode": 40066, "errmsg": "invalid url"}
        return self._response(request, body)

    def close(self) -> None:
        pass

    def _access_token(self, params: dict) -> dict:
        if params.get("appid") != self.app_id:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if params.get("secret") != self.secret:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        if params.get("grant_type") != "authorization_code":
            return {"errcode": 40002, "errmsg": "invalid grant_type"}
        code = params.get("code", "")
        try:
            payload = signing.loads(code, salt=self.CODE_SALT, max_age=300)
        except signing.BadSignature:  # expired codes are "invalid code" at WeChat too
            return {"errcode": 40029, "errmsg": "invalid code"}
        if payload.get("app") != self.app_id:
            return {"errcode": 40029, "errmsg": "invalid code"}
        with self._lock:
            if code in self._used:
                return {"errcode": 40163, "errmsg": "code been used"}
            self._used.add(code)
        token = signing.dumps(payload, salt=self.TOKEN_SALT, compress=True)
        body = {
            "access_token": token,
            "expires_in": 7200,
            "refresh_token": secrets.token_urlsafe(24),
            "openid": payload["openid"],
            "scope": payload["scope"],
        }
        if payload.get("unionid"):
            body["unionid"] = payload["unionid"]
        return body

    def _userinfo(self, params: dict) -> dict:
        try:
            payload = signing.loads(
                params.get("access_token", ""), salt=self.TOKEN_SALT, max_age=7200
            )
        except signing.BadSignature:
            return {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"}
        if payload["openid"] != params.get("openid"):
            return {"errcode": 40003, "errmsg": "invalid openid"}
        if payload["scope"] != "snsapi_userinfo":
            return {"errcode": 48001, "errmsg": "api unauthorized"}
        body = {
            "openid": payload["openid"],
            "nickname": payload["nickname"],
            "sex": 0,
            "province": "",
            "city": "",
            "country": "",
            "headimgurl": "",
            "privilege": [],
        }
        if payload.get("unionid"):
            body["unionid"] = payload["unionid"]
        return body

    @staticmethod
    def _response(request, body: dict) -> requests.Response:
        response = requests.Response()
        response.status_code = 200
        response._content = json.dumps(body, ensure_ascii=False).encode()
        response.headers["Content-Type"] = "application/json; encoding=utf-8"
        response.url = request.url
        response.request = request
        response.encoding = "utf-8"
        return response


_fake_api: FakeWeChatApi | None = None
_fake_lock = threading.Lock()


def fake_api() -> FakeWeChatApi:
    """The process's fake WeChat API (development, demo and tests)."""
    global _fake_api
    with _fake_lock:
        secret = hashlib.sha256(f"fake-wechat:{settings.SECRET_KEY}".encode()).hexdigest()[:32]
        if _fake_api is None or _fake_api.secret != secret:
            _fake_api = FakeWeChatApi(FAKE_APP_ID, secret)
        return _fake_api


def get_adapter() -> WeChatOAuthAdapter | None:
    """The configured adapter, or None when WeChat login is off."""
    mode = (settings.SIYU_WECHAT_OAUTH or "").lower()
    if mode == "fake":
        from django.urls import reverse

        api = fake_api()
        return WeChatOAuthAdapter(
            app_id=api.app_id,
            secret=api.secret,
            scope=settings.SIYU_WECHAT_OAUTH_SCOPE,
            transport=api,
            authorize_endpoint=reverse("mall:wechat_fake_authorize"),
        )
    if mode == "wechat":
        return WeChatOAuthAdapter(
            app_id=settings.SIYU_WECHAT_OA_APP_ID,
            secret=settings.SIYU_WECHAT_OA_APP_SECRET,
            scope=settings.SIYU_WECHAT_OAUTH_SCOPE,
        )
    return None


def fake_authorize_redirect(query: dict, account: str) -> str:
    """What WeChat does when the person taps "Allow": back to redirect_uri with code and state."""
    api = fake_api()
    if query.get("appid") != api.app_id:
        raise WeChatLoginFailed()
    scope = query.get("scope", "snsapi_base")
    code = api.issue_code(account, scope=scope if scope in SCOPES else "snsapi_base")
    redirect_uri = query.get("redirect_uri", "")
    separator = "&" if "?" in redirect_uri else "?"
    return f"{redirect_uri}{separator}{urlencode({'code': code, 'state': query.get('state', '')})}"
