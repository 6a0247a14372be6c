"""Role groups (agent, pod lead, specialist, admin) and their pods permissions.

Later apps add their own permissions to these groups in their own migrations."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

AGENT = ["view_pod", "view_agent", "view_customer", "view_customeridentity", "view_seat"]
LEAD = [*AGENT, "view_podsplit", "view_agentkpisnapshot", "view_possibleduplicate"]
ADMIN_MODELS = [
    "pod", "agent", "seat", "customer", "customeridentity", "possibleduplicate",
    "proficiencypolicy",
]
ADMIN = [
    *LEAD,
    "view_all_pods",
    "split_pod",
    *(f"{action}_{model}" for model in ADMIN_MODELS for action in ("add", "change")),
    "view_proficiencypolicy",
    "view_customerassignment",
]
GROUPS = {"Agents": AGENT, "Specialists": AGENT, "Pod leads": LEAD, "Admins": ADMIN}


def create_role_groups(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); create
    # them now so the groups can be given them in this same migrate run.
    app_config = apps.get_app_config("pods")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="pods", codename__in=codenames)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("pods", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_role_groups, migrations.RunPython.noop)]
