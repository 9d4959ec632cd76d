"""The plugin's blueprints: the public one under ``/plugin`` (page, loader, prompts,
themes and the plugin API), and the merchant endpoints for the plugin's appearance
under ``/api/v1`` (bearer = the merchant's API key)."""
from ..api.base import json_blueprint

bp = json_blueprint("plugin", __name__, "/plugin")
merchant_api_bp = json_blueprint("plugin_merchant_api", __name__, "/api/v1")
