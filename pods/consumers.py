"""Live notifications for a signed-in member of staff, over one websocket.

Each connection joins the user's own group and, for agents, their pod's group;
services publish to those groups through pods.outbound after commit."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from pods import outbound, selectors


class NotificationConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=4401)
            return
        self.groups_joined = [outbound.user_group(user.pk)]
        pod_id = await self.home_pod_id(user.pk)
        if pod_id is not None:
            self.groups_joined.append(outbound.pod_group(pod_id))
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "groups": len(self.groups_joined)})

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        if content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def notify(self, event: dict) -> None:
        await self.send_json(
            {key: value for key, value in event.items() if key != "type"}
            | {"type": "notify"}
        )

    @database_sync_to_async
    def home_pod_id(self, user_id: int) -> int | None:
        return selectors.home_pod_id(user_id=user_id)
