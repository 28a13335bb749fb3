"""Several central-system processes on one PostgreSQL and one Redis: a cluster.

A process with a ``redis_url`` is a *node*. Nodes share nothing but the database
and Redis; a machine runs several of them (``--workers``) to use every core.

* **Ownership.** The node holding a charger's WebSocket owns the charger: Redis key
  ``<prefix>charger:<id>`` holds ``<node>|<epoch>`` with a lease the node renews while
  the socket is open. ``epoch`` comes from one counter, so a newer connection always
  has a larger one. Claims and releases are also published on
  ``<prefix>ownership``; every node keeps a view of them for ``is_connected``.
* **Commands.** ``ClusterCommands`` (the ``ChargerCommands`` port) sends to a local
  charger directly; otherwise it looks up the owner and publishes the command on the
  owner's inbox channel. The owner runs it exactly as a single node would, and
  publishes the answer (or the error) back. Nothing is ever re-sent to a second
  node after it may have reached a charger, so a command runs once or fails.
* **Moves.** A charger that connects to another node is claimed there with a newer
  epoch; its old node closes the old socket, so a command in flight there fails
  with ``ChargerDisconnected``.
* **Jobs.** Periodic work (the reservation life cycle, message log retention) runs
  on the node that takes the job's lease for the period. The reservation moves are
  also conditional in PostgreSQL, so two runners could not move one twice.

Modules: ``wire`` (messages and errors on the wire), ``node`` (``ClusterNode``),
``commands`` (``ClusterCommands``), ``database`` (retention and migrations once),
``workers`` (``--workers N``).
"""

from central_system.cluster.commands import ClusterCommands
from central_system.cluster.database import ClusterMessageLog, upgrade_exclusively
from central_system.cluster.node import ClusterNode

__all__ = ["ClusterCommands", "ClusterMessageLog", "ClusterNode", "upgrade_exclusively"]
