import pytest
from cryptography.exceptions import InvalidTag

from siyu.core import crypto
from siyu.core.money import BadAmount, format_fen, split_proportionally, yuan_to_fen


def test_encrypted_values_round_trip_and_differ_each_time():
    a = crypto.encrypt("13812341234")
    b = crypto.encrypt("13812341234")
    assert a != b and "13812341234" not in a
    assert crypto.decrypt(a) == crypto.decrypt(b) == "13812341234"


def test_tampered_ciphertext_is_rejected():
    token = crypto.encrypt("13812341234")
    prefix, key_id, payload = token.split(":", 2)
    broken = f"{prefix}:{key_id}:{payload[:-4]}AAAA"
    with pytest.raises(InvalidTag):
        crypto.decrypt(broken)


def test_lookup_hash_is_keyed_and_stable():
    assert crypto.lookup_hash("phone", "13812341234") == crypto.lookup_hash("phone", "13812341234")
    assert crypto.lookup_hash("phone", "13812341234") != crypto.lookup_hash(
        "unionid", "13812341234"
    )


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("13812341234", "13812341234"),
        ("+86 138-1234-1234", "13812341234"),
        ("008613812341234", "13812341234"),
        ("138****1234", None),
        ("12345", None),
        ("", None),
        (None, None),
        ("23812341234", None),
    ],
)
def test_phone_normalisation_rejects_masked_and_malformed_numbers(raw, expected):
    assert crypto.normalize_phone(raw) == expected


def test_masking():
    assert crypto.mask_phone("13812341234") == "138****1234"
    assert crypto.mask_name("张三丰") == "张**"


@pytest.mark.parametrize(
    "raw, fen",
    [("12.34", 1234), ("¥1,234.5", 123450), ("0", 0), (" 7 ", 700), ("0.005", 1), ("12元", 1200)],
)
def test_yuan_to_fen(raw, fen):
    assert yuan_to_fen(raw) == fen


@pytest.mark.parametrize("raw", ["", "abc", "1.2.3", "NaN", "inf"])
def test_yuan_to_fen_rejects_non_amounts(raw):
    with pytest.raises(BadAmount):
        yuan_to_fen(raw)


def test_format_fen_uses_yuan_sign_and_separators():
    assert format_fen(123456789) == "¥1,234,567.89"
    assert format_fen(-5) == "-¥0.05"


def test_split_proportionally_is_exact_and_fair():
    shares = split_proportionally(1000, [3333, 3333, 3334])
    assert sum(shares) == 1000
    assert shares == [333, 333, 334]
    assert split_proportionally(1, [1, 1, 1]) == [1, 0, 0]
    assert split_proportionally(0, [5, 5]) == [0, 0]
