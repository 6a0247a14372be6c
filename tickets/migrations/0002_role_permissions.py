"""Ticket permissions of the role groups created by pods."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = {
    "Agents": ["view_ticket", "add_ticket", "change_ticket"],
    "Specialists": ["view_ticket", "add_ticket", "change_ticket"],
    "Pod leads": ["view_ticket", "add_ticket", "change_ticket"],
    "Admins": ["view_ticket", "add_ticket", "change_ticket"],
}


def grant_ticket_permissions(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); create
    # them now so the groups can be given them in this same migrate run.
    app_config = apps.get_app_config("tickets")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(
                content_type__app_label="tickets", codename__in=codenames
            )
        )


class Migration(migrations.Migration):
    dependencies = [("tickets", "0001_initial"), ("pods", "0002_role_groups")]

    operations = [migrations.RunPython(grant_ticket_permissions, migrations.RunPython.noop)]
