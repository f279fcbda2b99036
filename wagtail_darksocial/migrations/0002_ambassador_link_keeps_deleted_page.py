# A deleted page keeps its ambassador links (PROTECT made the page impossible to delete, and an ancestor's
# deletion a 500): the link was handed out, its token and URL stay, and so does the credit of its visits.

import django.db.models.deletion
import swapper
from django.db import migrations, models

# The page model is swappable from Wagtail 8: named through swapper, which reads WAGTAIL_PAGE_MODEL.
swapper.set_app_prefix('wagtailcore', 'wagtail')


class Migration(migrations.Migration):

    dependencies = [
        ('wagtail_darksocial', '0001_initial'),
        swapper.dependency('wagtailcore', 'Page'),
    ]

    operations = [
        migrations.AlterField(
            model_name='ambassadorlink',
            name='page',
            field=models.ForeignKey(blank=True, help_text='The page the link opens (kept in the link once minted).',
                                    null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+',
                                    to=swapper.get_model_name('wagtailcore', 'Page')),
        ),
    ]
