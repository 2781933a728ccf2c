"""The hub's Redis connection, on real servers: calls, keys, scripts and pub/sub on the one at
``REDIS_URL``; outages (a killed, a frozen and a restarted ``redis-server`` of the test's own)
in both ``on_error`` modes: a fallback with one warning, or a typed error at once, never a
hang, and calls restored by themselves once Redis answers again."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Iterator

import coredis.exceptions
import pytest
import trio

from hubactors.config import RedisConfig, config_from_dict
from hubactors.errors import ConfigError, SharedStateUnavailableError
from hubactors.shared import FALLBACK, SharedRedis, display_url
from tests.conftest import LogCapture
from tests.shared._support import REDIS_URL, RedisServer, redis_client, unique_prefix

TIMEOUT = 0.25
PROBE = 0.05


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    prefix = unique_prefix()
    yield prefix
    async with redis_client() as client:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(keys)


@pytest.fixture
def server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        if server._process is not None:
            server._process.send_signal(signal.SIGCONT)
        server.stop()


def config(url: str, prefix: str = "t:", on_error: str = "open") -> RedisConfig:
    return RedisConfig(url=url, key_prefix=prefix, on_error=on_error, timeout=TIMEOUT)  # type: ignore[arg-type]


async def wait_available(redis: SharedRedis) -> None:
    with trio.fail_after(5):
        while not redis.available:  # noqa: ASYNC110 - its probe runs every PROBE seconds
            await trio.sleep(PROBE)


async def test_calls_keys_and_scripts_run_on_the_shared_server(prefix: str) -> None:
    async with SharedRedis.open(config(REDIS_URL, prefix)) as redis:
        key = redis.key("cache", "v1", "abc")
        assert key == f"{prefix}cache:v1:abc"
        assert await redis.call(lambda r: r.set(key, b"value", ex=60))
        assert await redis.call(lambda r: r.get(key)) == b"value"
        incr = redis.script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        counter = redis.key("n")
        assert await incr([counter], [2]) == 2
        assert await incr([counter], [3]) == 5
        assert redis.available
        assert redis.outages == 0


async def test_errors_redis_answers_are_raised_not_taken_for_an_outage(prefix: str) -> None:
    async with SharedRedis.open(config(REDIS_URL, prefix)) as redis:
        key = redis.key("list")
        await redis.call(lambda r: r.rpush(key, [b"x"]))
        with pytest.raises(coredis.exceptions.WrongTypeError):
            await redis.call(lambda r: r.incr(key))
        assert redis.available


async def test_the_callers_own_error_leaves_the_block_as_itself() -> None:
    with pytest.raises(KeyError, match="mine"):
        async with SharedRedis.open(config(REDIS_URL)):
            raise KeyError("mine")


async def test_published_messages_reach_every_subscriber(prefix: str) -> None:
    async with SharedRedis.open(config(REDIS_URL, prefix)) as redis:
        channel = redis.key("events")
        async with redis.subscribe(channel) as first, redis.subscribe(channel) as second:
            with trio.fail_after(5):
                while await redis.publish(channel, b"ping") != 2:  # noqa: ASYNC110 - until both are subscribed
                    await trio.sleep(0.01)
                assert await first.receive() == b"ping"
                assert await second.receive() == b"ping"
                await redis.publish(channel, "open")
                assert await first.receive() in (b"ping", b"open")


async def test_open_fallback_one_warning_no_hang_and_reconnect_after_restart(
    server: RedisServer, hub_logs: LogCapture
) -> None:
    await server.wait_ready()
    async with SharedRedis.open(config(server.url), probe_interval=PROBE) as redis:
        assert await redis.call(lambda r: r.set("t:k", b"1")) is True
        server.stop()
        for _ in range(20):
            with trio.fail_after(TIMEOUT * 2):
                assert await redis.call(lambda r: r.get("t:k")) is FALLBACK
        assert not redis.available
        assert hub_logs.text.count("is unavailable") == 1
        assert "using per-process state" in hub_logs.text
        server.start()
        await server.wait_ready()
        await wait_available(redis)
        assert await redis.call(lambda r: r.set("t:k", b"2")) is True
        assert await redis.call(lambda r: r.get("t:k")) == b"2"
        assert "answers again" in hub_logs.text
        assert redis.outages == 1


async def test_closed_raises_a_typed_error_at_once_and_recovers(server: RedisServer) -> None:
    await server.wait_ready()
    async with SharedRedis.open(
        config(server.url, on_error="closed"), probe_interval=PROBE
    ) as redis:
        assert await redis.call(lambda r: r.ping()) == b"PONG"
        server.stop()
        for _ in range(10):
            with trio.fail_after(TIMEOUT * 2), pytest.raises(SharedStateUnavailableError) as err:
                await redis.call(lambda r: r.get("t:k"))
        assert not err.value.retryable
        assert f"127.0.0.1:{server.port}" in str(err.value)
        server.start()
        await server.wait_ready()
        await wait_available(redis)
        assert await redis.call(lambda r: r.ping()) == b"PONG"


async def test_a_frozen_server_is_an_outage_within_the_timeout(server: RedisServer) -> None:
    await server.wait_ready()
    assert server._process is not None
    async with SharedRedis.open(config(server.url), probe_interval=PROBE) as redis:
        assert await redis.call(lambda r: r.ping()) == b"PONG"
        server._process.send_signal(signal.SIGSTOP)
        started = trio.current_time()
        assert await redis.call(lambda r: r.get("t:k")) is FALLBACK
        assert trio.current_time() - started < TIMEOUT * 2
        assert not redis.available
        server._process.send_signal(signal.SIGCONT)
        await wait_available(redis)
        assert await redis.call(lambda r: r.ping()) == b"PONG"


async def test_a_hub_opens_with_redis_down_and_connects_once_it_starts(
    server: RedisServer,
) -> None:
    server.stop()
    with trio.fail_after(TIMEOUT * 4):
        async with SharedRedis.open(config(server.url), probe_interval=PROBE) as redis:
            assert not redis.available
            assert await redis.call(lambda r: r.ping()) is FALLBACK
    async with SharedRedis.open(config(server.url), probe_interval=PROBE) as redis:
        server.start()
        await server.wait_ready()
        await wait_available(redis)
        assert await redis.call(lambda r: r.ping()) == b"PONG"


async def test_scripts_are_loaded_again_after_a_restart(server: RedisServer) -> None:
    await server.wait_ready()
    async with SharedRedis.open(config(server.url), probe_interval=PROBE) as redis:
        incr = redis.script("return redis.call('INCR', KEYS[1])")
        assert await incr(["t:n"]) == 1
        server.stop()
        assert await incr(["t:n"]) is FALLBACK
        server.start()
        await server.wait_ready()
        await wait_available(redis)
        assert await incr(["t:n"]) == 1  # a fresh server, and the script loaded anew


async def test_a_subscription_survives_a_restart(server: RedisServer) -> None:
    await server.wait_ready()
    async with (
        SharedRedis.open(config(server.url), probe_interval=PROBE) as redis,
        redis.subscribe("t:events") as messages,
    ):
        with trio.fail_after(5):
            while await redis.publish("t:events", b"one") != 1:  # noqa: ASYNC110 - until it is subscribed
                await trio.sleep(0.01)
            assert await messages.receive() == b"one"
            server.stop()
            await trio.sleep(PROBE * 2)
            server.start()
            await server.wait_ready()
            await wait_available(redis)
            while await redis.publish("t:events", b"two") != 1:  # noqa: ASYNC110 - until it is subscribed
                await trio.sleep(0.01)
            assert await messages.receive() == b"two"


def test_log_lines_never_show_the_password() -> None:
    assert display_url("redis://user:secret@host:6379/0") == "redis://host:6379/0"
    assert display_url("redis://host:6379/0") == "redis://host:6379/0"


# --- the config of shared state ---------------------------------------------------------------

BASE = {"deployments": [{"name": "a", "provider": "simulated", "model": "m"}]}


def test_redis_and_cache_default_to_one_process_without_redis() -> None:
    config = config_from_dict(BASE)
    assert config.cache.backend == "off"
    assert config.limits.scope == config.breakers.scope == "process"
    assert not config.uses_redis
    assert config.redis.timeout == 0.25


def test_redis_url_from_the_environment_overrides_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://10.0.0.7:6380/2")
    data = {**BASE, "redis": {"url": "redis://127.0.0.1:6379/0"}, "cache": {"backend": "redis"}}
    config = config_from_dict(data)
    assert config.redis.url == "redis://10.0.0.7:6380/2"
    assert config.uses_redis
    monkeypatch.setenv("REDIS_URL", "http://nope")
    with pytest.raises(ConfigError, match="REDIS_URL") as err:
        config_from_dict(BASE)
    assert err.value.key == "redis.url"


@pytest.mark.parametrize(
    ("table", "key", "value"),
    [
        ("redis", "url", "http://127.0.0.1:6379"),
        ("redis", "url", "redis://"),
        ("redis", "url", "redis://host:6379/zero"),
        ("redis", "url", "redis://host:0/0"),
        ("redis", "key_prefix", ""),
        ("redis", "key_prefix", "a b"),
        ("redis", "on_error", "maybe"),
        ("redis", "timeout", 0),
        ("redis", "timeout", float("nan")),
        ("cache", "backend", "disk"),
        ("cache", "ttl", -1),
        ("cache", "max_bytes", 0),
        ("limits", "scope", "cluster"),
        ("breakers", "scope", "global"),
    ],
)
def test_bad_shared_settings_name_their_key(
    table: str, key: str, value: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(ConfigError) as err:
        config_from_dict({**BASE, table: {key: value}})
    assert err.value.key == f"{table}.{key}"


@pytest.mark.parametrize("url", ["rediss://h:6380/1", "unix:///run/redis.sock", "redis://h"])
def test_tls_and_unix_socket_urls_are_accepted(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert config_from_dict({**BASE, "redis": {"url": url}}).redis.url == url


@pytest.mark.parametrize("where", ["deployments", "routes"])
@pytest.mark.parametrize("field", ["budget_usd_per_day", "budget_usd_per_month"])
def test_budgets_are_positive_amounts(where: str, field: str) -> None:
    dep = {"name": "a", "provider": "simulated", "model": "m"}
    route = {"name": "r", "deployments": ["a"]}
    target = dep if where == "deployments" else route
    ok = config_from_dict({"deployments": [{**dep}], "routes": [{**route}]})
    assert getattr((ok.deployments if where == "deployments" else ok.routes)[0], field) is None
    target[field] = 0
    with pytest.raises(ConfigError) as err:
        config_from_dict({"deployments": [dep], "routes": [route]})
    assert err.value.key == f"{where}[0].{field}"
    target[field] = 12.5
    config_from_dict({"deployments": [dep], "routes": [route]})
