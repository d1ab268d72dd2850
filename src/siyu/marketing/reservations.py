"""Flash-sale admission in Redis: one Lua script checks and takes the quota and the buyer's count
in a single atomic step, so a burst of thousands of buyers is decided in memory and only the
winners go on to place an order in the database.

Keys per sale share a hash tag (`{fs<sale>}`) so the scripts also run on a Redis Cluster:

* `siyu:{fs<sale>}:primed` — set once the counters were loaded from the database;
* `siyu:{fs<sale>}:left:<item>` — units of an item Redis may still hand out;
* `siyu:{fs<sale>}:buyers` — hash customer id → units held in the sale;
* `siyu:{fs<sale>}:pending:<item>` — sorted set of admissions not yet settled in the database
  (`token|customer|n`, scored by time): removed when the order commits, or given back when it
  fails; the reconcile job settles or returns the ones left behind by a crashed worker;
* `siyu:{fs<sale>}:released:<item>` — reservation ids already given back (idempotency).

The database (conditional UPDATEs and CHECK constraints in `flash.take`) stays the source of
truth: Redis only decides who may try.
"""

from __future__ import annotations

import logging
import time
from functools import cache

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

log = logging.getLogger(__name__)

STALE_SECONDS = 120

_RESERVE = """
local left = redis.call('GET', KEYS[1])
if not left then return -3 end
left = tonumber(left)
local n = tonumber(ARGV[1])
local bought = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
if bought + n > tonumber(ARGV[3]) then return -2 end
if left < n then return -1 end
redis.call('DECRBY', KEYS[1], n)
redis.call('HINCRBY', KEYS[2], ARGV[2], n)
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4])
return left - n
"""

_RELEASE_TOKEN = """
if redis.call('ZREM', KEYS[3], ARGV[3]) == 1 then
  if redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('INCRBY', KEYS[1], ARGV[1])
    redis.call('HINCRBY', KEYS[2], ARGV[2], -tonumber(ARGV[1]))
  end
  return 1
end
return 0
"""

_GIVE_BACK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('SADD', KEYS[3], ARGV[3]) == 1 then
  redis.call('EXPIRE', KEYS[3], ARGV[4])
  redis.call('INCRBY', KEYS[1], ARGV[1])
  redis.call('HINCRBY', KEYS[2], ARGV[2], -tonumber(ARGV[1]))
  return 1
end
return 0
"""

# KEYS: primed, buyers, left_1..left_k ; ARGV: ttl, k, left values..., then customer, qty pairs
_PRIME = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local ttl = tonumber(ARGV[1])
local k = tonumber(ARGV[2])
for i = 1, k do redis.call('SET', KEYS[2 + i], ARGV[2 + i], 'EX', ttl) end
redis.call('DEL', KEYS[2])
for i = 3 + k, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('SET', KEYS[1], '1', 'EX', ttl)
return 1
"""

# Reset counters from the database figures plus what is still pending in Redis, atomically.
# KEYS: buyers, then per item left_i, pending_i ; ARGV: ttl, k, then per item the units Redis may
# hand out before pending (quota - db sold), then customer, qty pairs from the database
_RESET = """
local ttl = tonumber(ARGV[1])
local k = tonumber(ARGV[2])
local held = {}
redis.call('DEL', KEYS[1])
for i = 3 + k, #ARGV, 2 do held[ARGV[i]] = tonumber(ARGV[i + 1]) end
for i = 1, k do
  local left = tonumber(ARGV[2 + i])
  local pend = redis.call('ZRANGE', KEYS[1 + 2 * i], 0, -1)
  for _, m in ipairs(pend) do
    local t, c, n = string.match(m, '([^|]+)|([^|]+)|([^|]+)')
    left = left - tonumber(n)
    held[c] = (held[c] or 0) + tonumber(n)
  end
  redis.call('SET', KEYS[2 * i], math.max(left, 0), 'EX', ttl)
end
for c, n in pairs(held) do if n > 0 then redis.call('HSET', KEYS[1], c, n) end end
redis.call('EXPIRE', KEYS[1], ttl)
return 1
"""


def mode() -> str:
    """ "redis" when REDIS_URL is set (unless SIYU_FLASH_SALE_MODE says "db"), else "db"."""
    wanted = getattr(settings, "SIYU_FLASH_SALE_MODE", "auto")
    if wanted == "db" or not settings.REDIS_URL:
        return "db"
    return "redis"


def enabled() -> bool:
    return mode() == "redis"


@cache
def _client_for(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=5, health_check_interval=30)


def client():
    return _client_for(settings.REDIS_URL)


@cache
def _scripts(url: str) -> dict:
    r = _client_for(url)
    return {
        name: r.register_script(src)
        for name, src in {
            "reserve": _RESERVE,
            "release": _RELEASE_TOKEN,
            "give_back": _GIVE_BACK,
            "prime": _PRIME,
            "reset": _RESET,
        }.items()
    }


def _script(name: str):
    return _scripts(settings.REDIS_URL)[name]


def _tag(sale_id: int) -> str:
    return f"siyu:{{fs{sale_id}}}"


def key_left(sale_id: int, item_id: int) -> str:
    return f"{_tag(sale_id)}:left:{item_id}"


def key_buyers(sale_id: int) -> str:
    return f"{_tag(sale_id)}:buyers"


def key_pending(sale_id: int, item_id: int) -> str:
    return f"{_tag(sale_id)}:pending:{item_id}"


def _ttl(sale) -> int:
    return max(3600, int((sale.ends_at - timezone.now()).total_seconds()) + 86400)


def _db_figures(sale_id: int):
    from .models import FlashSaleBuyer, FlashSaleItem

    items = list(FlashSaleItem.objects.filter(sale_id=sale_id).order_by("pk"))
    buyers = list(
        FlashSaleBuyer.objects.filter(sale_id=sale_id, quantity__gt=0).values_list(
            "customer_id", "quantity"
        )
    )
    return items, buyers


def prime(sale_id: int) -> bool:
    """Load a sale's counters from the database once (a no-op when already loaded)."""
    from .models import FlashSale

    sale = FlashSale.objects.get(pk=sale_id)
    items, buyers = _db_figures(sale_id)
    keys = [f"{_tag(sale_id)}:primed", key_buyers(sale_id)]
    keys += [key_left(sale_id, i.pk) for i in items]
    args: list = [_ttl(sale), len(items)] + [i.quota - i.sold for i in items]
    for customer_id, qty in buyers:
        args += [customer_id, qty]
    return bool(_script("prime")(keys=keys, args=args))


def reserve(sale, item, customer_id: int, quantity: int, token: str) -> int:
    """Admit one buyer atomically or raise SaleSoldOut / SaleLimitReached."""
    from . import flash

    keys = [
        key_left(sale.pk, item.pk),
        key_buyers(sale.pk),
        key_pending(sale.pk, item.pk),
    ]
    args = [quantity, customer_id, sale.per_customer_limit, f"{token}|{customer_id}|{quantity}"]
    for _attempt in range(2):
        result = _script("reserve")(keys=keys, args=[*args, time.time()])
        if result == -3:
            prime(sale.pk)
            continue
        if result == -1:
            raise flash.sold_out()
        if result == -2:
            raise flash.over_limit(sale.per_customer_limit)
        return int(result)
    raise RuntimeError(f"flash sale {sale.pk} could not be loaded into Redis")


def release_token(sale_id: int, item_id: int, customer_id: int, quantity: int, token: str) -> bool:
    """The order for an admission was not placed: give its units back (once)."""
    try:
        return bool(
            _script("release")(
                keys=[
                    key_left(sale_id, item_id),
                    key_buyers(sale_id),
                    key_pending(sale_id, item_id),
                ],
                args=[quantity, customer_id, f"{token}|{customer_id}|{quantity}"],
            )
        )
    except Exception:  # the reconcile job returns it later
        log.exception("could not release flash-sale admission %s", token)
        return False


def settled(sale_id: int, item_id: int, customer_id: int, quantity: int, token: str) -> None:
    """The admission became an order in the database: it is no longer pending."""
    try:
        client().zrem(key_pending(sale_id, item_id), f"{token}|{customer_id}|{quantity}")
    except Exception:  # the reconcile job settles it later
        log.exception("could not settle flash-sale admission %s", token)


def give_back(released: list[tuple[int, int, int, int, int]]) -> None:
    """Units of cancelled orders go back to Redis (after the database released them)."""
    for sale_id, item_id, customer_id, quantity, reservation_id in released:
        try:
            _script("give_back")(
                keys=[
                    key_left(sale_id, item_id),
                    key_buyers(sale_id),
                    f"{_tag(sale_id)}:released:{item_id}",
                ],
                args=[quantity, customer_id, reservation_id, 7 * 86400],
            )
        except Exception:  # the reconcile job fixes the counters
            log.exception("could not give back flash-sale reservation %s", reservation_id)


def reconcile(sale_id: int, *, stale_seconds: int = STALE_SECONDS) -> dict:
    """Bring Redis back in line with the database for one sale.

    1. Admissions pending longer than `stale_seconds` (a worker died between Redis and the
       database): settled if their reservation exists, otherwise given back.
    2. Counters reset to quota − sold in the database − still pending, and each buyer's count
       to their database count + pending, in one script.

    A reconcile racing with an order that commits in between can at worst let one buyer too
    many through Redis; the database's conditional update refuses them.
    """
    from .models import FlashSale, FlashSaleReservation

    sale = FlashSale.objects.get(pk=sale_id)
    r = client()
    items, buyers = _db_figures(sale_id)
    cutoff = time.time() - stale_seconds
    returned = settled_n = 0
    for item in items:
        pending = key_pending(sale_id, item.pk)
        for raw in r.zrangebyscore(pending, "-inf", cutoff):
            member = raw.decode()
            token, customer_id, qty = member.split("|")
            if FlashSaleReservation.objects.filter(item_id=item.pk, token=token).exists():
                r.zrem(pending, member)
                settled_n += 1
            elif release_token(sale_id, item.pk, int(customer_id), int(qty), token):
                returned += 1
    # re-read after settling: reservations committed meanwhile are in the database now
    items, buyers = _db_figures(sale_id)
    keys = [key_buyers(sale_id)]
    for item in items:
        keys += [key_left(sale_id, item.pk), key_pending(sale_id, item.pk)]
    args: list = [_ttl(sale), len(items)] + [i.quota - i.sold for i in items]
    for customer_id, qty in buyers:
        args += [customer_id, qty]
    _script("reset")(keys=keys, args=args)
    r.set(f"{_tag(sale_id)}:primed", "1", ex=_ttl(sale))
    return {"returned": returned, "settled": settled_n}


def left_in_redis(sale_id: int, item_id: int) -> int | None:
    value = client().get(key_left(sale_id, item_id))
    return int(value) if value is not None else None


def held_in_db(sale_id: int) -> int:
    from .models import FlashSaleItem

    return FlashSaleItem.objects.filter(sale_id=sale_id).aggregate(s=Sum("sold"))["s"] or 0
