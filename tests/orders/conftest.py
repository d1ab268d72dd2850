import pytest


@pytest.fixture(scope="session")
def _dev_pay_keys(tmp_path_factory):
    return tmp_path_factory.mktemp("devpay-keys")


@pytest.fixture(autouse=True)
def _pay_with_the_dev_provider(_dev_pay_keys, settings):
    """Orders are paid and refunded through the payments app's dev provider, synchronously."""
    settings.SIYU_PAYMENT_PROVIDER = "dev"
    settings.SIYU_DEV_PAY_ALLOWED = True
    settings.SIYU_DEV_PAY_KEY_DIR = str(_dev_pay_keys)
    settings.SIYU_DEV_PAY_NOTIFY_URL = ""
    settings.SIYU_DEV_PAY_REFUND_SECONDS = 0


@pytest.fixture
def shopper_client(db):
    """shopper_client(customer) -> a test client logged in to the mall as that customer."""
    from importlib import import_module

    from django.conf import settings
    from django.test import Client

    def make(customer) -> Client:
        client = Client()
        store = import_module(settings.SESSION_ENGINE).SessionStore()
        store["customer_id"] = customer.pk
        store.save()
        client.cookies[settings.SIYU_SHOPPER_SESSION_COOKIE] = store.session_key
        return client

    return make
