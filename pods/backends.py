"""The one place object permissions are decided: `user.has_perm(perm, obj)`.

A user needs the model permission (from their role's group) and the object must be
in their pod, unless they may see every pod. Objects say which pod they belong to
through a `pod_id` attribute (a Pod is its own scope). Another pod's object is
indistinguishable from a missing one: callers answer 404 for both."""

from django.contrib.auth.backends import ModelBackend

from pods import selectors

ALL_PODS_PERMISSION = "pods.view_all_pods"


def pod_scope_of(obj) -> int | None:
    if obj._meta.label == "pods.Pod":
        return obj.pk
    return getattr(obj, "pod_id", None)


class PodScopeBackend(ModelBackend):
    def has_perm(self, user_obj, perm, obj=None) -> bool:
        if not user_obj.is_active:
            return False
        if not super().has_perm(user_obj, perm):
            return False
        if obj is None or user_obj.is_superuser:
            return True
        if super().has_perm(user_obj, ALL_PODS_PERMISSION):
            return True
        pod_id = pod_scope_of(obj)
        return pod_id is not None and pod_id == self.home_pod_id(user_obj)

    @staticmethod
    def home_pod_id(user_obj) -> int | None:
        """The user's pod, read once per user object (one request)."""
        if not hasattr(user_obj, "_home_pod_id"):
            user_obj._home_pod_id = selectors.home_pod_id(user_id=user_obj.pk)
        return user_obj._home_pod_id
