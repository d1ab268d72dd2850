"""WeChat web authorisation through wechatpy, against the local stand-in for WeChat's API."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from siyu.mall import wechat_oauth
from siyu.mall.wechat_oauth import FakeWeChatApi, WeChatLoginFailed, WeChatOAuthAdapter

APP_ID, SECRET = "wx1234567890abcdef", "s" * 32


@pytest.fixture
def api():
    return FakeWeChatApi(APP_ID, SECRET)


def adapter_for(api, scope="snsapi_base", **overrides):
    values = {"app_id": APP_ID, "secret": SECRET, "scope": scope, "transport": api}
    values.update(overrides)
    return WeChatOAuthAdapter(**values)


def test_authorize_url_is_wechats_with_our_app_scope_and_state(api):
    url = adapter_for(api).authorize_url("https://shop.example.com/m/login/wechat/callback/", "st8")
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    assert parsed.netloc == "open.weixin.qq.com" and parsed.path == "/connect/oauth2/authorize"
    assert query["appid"] == [APP_ID] and query["scope"] == ["snsapi_base"]
    assert query["redirect_uri"] == ["https://shop.example.com/m/login/wechat/callback/"]
    assert query["state"] == ["st8"] and query["response_type"] == ["code"]
    assert url.endswith("#wechat_redirect")


def test_base_scope_gives_openid_and_unionid_without_asking_for_the_profile(api):
    code = api.issue_code("小红")
    profile = adapter_for(api).exchange(code)
    openid, unionid = wechat_oauth.fake_identity(APP_ID, "小红")
    assert (profile.openid, profile.unionid, profile.nickname) == (openid, unionid, "")
    assert api.calls == ["/sns/oauth2/access_token"]


def test_userinfo_scope_also_reads_nickname(api):
    code = api.issue_code("小红", scope="snsapi_userinfo")
    profile = adapter_for(api, scope="snsapi_userinfo").exchange(code)
    assert profile.nickname == "小红" and profile.scope == "snsapi_userinfo"
    assert api.calls == ["/sns/oauth2/access_token", "/sns/userinfo"]


def test_an_account_not_bound_to_open_platform_has_no_unionid(api):
    profile = adapter_for(api).exchange(api.issue_code("小明", with_unionid=False))
    assert profile.openid.startswith("o") and profile.unionid == ""


@pytest.mark.parametrize(
    "case",
    ["reused", "forged", "wrong secret", "other app"],
)
def test_bad_codes_and_credentials_fail_cleanly(api, case):
    code = api.issue_code("小红")
    adapter = adapter_for(api)
    if case == "reused":
        adapter.exchange(code)
    elif case == "forged":
        code = code[:-2] + ("AA" if not code.endswith("AA") else "BB")
    elif case == "wrong secret":
        adapter = adapter_for(api, secret="x" * 32)
    elif case == "other app":
        code = FakeWeChatApi("wxother", SECRET).issue_code("小红")
    with pytest.raises(WeChatLoginFailed):
        adapter.exchange(code)


def test_real_mode_uses_wechats_api_host_with_a_timeout(settings):
    settings.SIYU_WECHAT_OAUTH = "wechat"
    settings.SIYU_WECHAT_OA_APP_ID = APP_ID
    settings.SIYU_WECHAT_OA_APP_SECRET = SECRET
    adapter = wechat_oauth.get_adapter()
    assert not adapter.is_fake
    assert isinstance(adapter.transport, wechat_oauth._TimeoutAdapter)
    client = adapter._client()
    assert client._http.get_adapter("https://api.weixin.qq.com/sns/x") is adapter.transport


def test_off_when_not_configured(settings):
    settings.SIYU_WECHAT_OAUTH = ""
    assert wechat_oauth.get_adapter() is None
