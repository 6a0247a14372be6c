"""Live notifications for a signed-in member of staff, over one websocket.

Each connection joins the user's own group and, for agents, their pod's group;
services publish to those groups through pods.outbound after commit. A page
watching another pod (an admin's view of a pod dashboard) asks to follow it:
{"type": "follow", "pod": <id>}; the socket joins that pod's group only if the
user may see its dashboard, and follows one such pod at a time."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import get_user_model

from pods import outbound, selectors
from pods.models import Pod

FOLLOW_PERMISSION = "pods.view_dashboard"


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
        elif content.get("type") == "follow":
            await self.follow(content.get("pod"))

    async def follow(self, raw_pod_id) -> None:
        """Join the pod's group if the user may see its dashboard; leave the pod
        followed before. A refusal looks the same for a pod that does not exist
        and one the user may not see."""
        pod_id = raw_pod_id if type(raw_pod_id) is int else None
        group = outbound.pod_group(pod_id) if pod_id is not None else None
        if group is not None and group in self.groups_joined:
            await self.send_json({"type": "following", "pod": pod_id})
            return
        if pod_id is None or not await self.may_follow(pod_id):
            await self.send_json({"type": "follow.refused", "pod": raw_pod_id})
            return
        followed = getattr(self, "followed_group", None)
        if followed is not None:
            await self.channel_layer.group_discard(followed, self.channel_name)
            self.groups_joined.remove(followed)
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined.append(group)
        self.followed_group = group
        await self.send_json({"type": "following", "pod": pod_id})

    async def notify(self, event: dict) -> None:
        await self.send_json(
            {key: value for key, value in event.items() if key != "type"}
            | {"type": "notify"}
        )

    @database_sync_to_async
    def home_pod_id(self, user_id: int) -> int | None:
        return selectors.home_pod_id(user_id=user_id)

    @database_sync_to_async
    def may_follow(self, pod_id: int) -> bool:
        try:
            pod = selectors.pod_detail(pod_id=pod_id)
        except Pod.DoesNotExist:
            return False
        # Read afresh: the scope's user (and the permissions cached on it) is
        # as old as the connection, and a role may have changed since.
        user = get_user_model().objects.filter(pk=self.scope["user"].pk).first()
        return user is not None and user.has_perm(FOLLOW_PERMISSION, pod)
