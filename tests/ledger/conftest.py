import pytest

from siyu.core.access import Actor
from siyu.ledger import accounts as A
from siyu.ledger import payouts
from siyu.ledger import services as ledger
from siyu.ledger.accounts import Owner

from .fake_wechatpay import FakeWeChatTransfers, Keys

SYSTEM = Actor.system("test")


@pytest.fixture(scope="session")
def wechat_keys():
    return Keys()


@pytest.fixture
def wechat(wechat_keys):
    """A fake WeChat Pay transfer API and the real adapter pointed at it."""
    fake = FakeWeChatTransfers(wechat_keys)
    adapter = payouts.WeChatTransferAdapter(config=wechat_keys.adapter_config(fake.url))
    payouts.override("wechat", adapter)
    fake.adapter = adapter
    yield fake
    payouts.override("wechat", None)
    fake.close()


@pytest.fixture
def earner(db):
    """An owner with ¥100 settled and withdrawable."""
    owner = Owner("distributor", 7)
    ledger.credit_earning(owner, 10000, key="c:7", actor=SYSTEM)
    ledger.move_earning(
        owner, 10000, from_purpose=A.PENDING, to_purpose=A.FROZEN, key="c:7:f", actor=SYSTEM
    )
    ledger.settle_earning(owner, 10000, key="c:7:s", actor=SYSTEM)
    return owner
