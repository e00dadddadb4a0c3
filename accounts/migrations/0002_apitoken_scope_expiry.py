from django.conf import settings
from django.db import migrations, models
from django.utils import timezone


def expire_existing_tokens_in_one_lifetime(apps, schema_editor):
    # Tokens issued before expiry existed get a full lifetime from now, not from their creation:
    # none stops working on the day of the upgrade without warning.
    ApiToken = apps.get_model("accounts", "ApiToken")
    ApiToken.objects.filter(expires__isnull=True).update(expires=timezone.now() + settings.API_TOKEN_LIFETIME)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="scope",
            field=models.CharField(
                choices=[("read", "Read only"), ("read_write", "Read and write")], default="read_write", max_length=16
            ),
        ),
        migrations.AddField(model_name="apitoken", name="expires", field=models.DateTimeField(null=True)),
        migrations.RunPython(expire_existing_tokens_in_one_lifetime, migrations.RunPython.noop),
        migrations.AlterField(model_name="apitoken", name="expires", field=models.DateTimeField()),
    ]
