"""Recording the live market channel: what ``orderbook-lab record`` runs.

Everything here talks to the network, so none of it is in the core: the
core knows only the file format this package writes
(``core/recording.py``), and a recording replays like any other file.
One module per job:

* ``gamma.py``: which assets to record, the most active markets by 24 h
  volume from Polymarket's Gamma API (stdlib ``urllib``, run in a thread);
* ``connection.py``: one websocket, from subscribing to reconnecting, with
  the application-level ``PING`` the channel expects;
* ``writer.py``: frames and gap lines into the file, counted;
* ``recorder.py``: shards the assets over connections (at most 500 each),
  runs them in one ``asyncio.TaskGroup`` and stops them cleanly.

Import the module you need: this package imports none of them, so a
command that does not record never pays for loading ``websockets``
(about 0.1 s). Only ``cli`` prints: progress reaches it through a callback.
"""

__all__ = ["MARKET_URL", "GAMMA_URL"]

MARKET_URL = "wss://ws-subscriptions-clob.polymarket.com/ws/market"
"""Polymarket's public market channel (``--url`` overrides it)."""

GAMMA_URL = "https://gamma-api.polymarket.com"
"""Polymarket's Gamma API, which lists markets (``--gamma-url`` overrides it)."""
