from django.apps import AppConfig


class CompressionConfig(AppConfig):
    name = "compression"
    verbose_name = "Compression"

    def ready(self):
        # Classical codecs are registered up front so form choices and the API list are complete;
        # the learned codec joins them when its weights are installed (TensorFlow loads lazily).
        from .learned.codec import register_learned_codec
        from .registry import available_codecs

        available_codecs()
        register_learned_codec()
