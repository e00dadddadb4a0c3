from django.apps import AppConfig


class CompressionConfig(AppConfig):
    name = "compression"
    verbose_name = "Compression"

    def ready(self):
        # Classical codecs are registered up front so form choices and the API list are complete.
        from .registry import available_codecs

        available_codecs()
