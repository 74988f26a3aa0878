"""Stand-in for st2common.util.config_loader (used only when st2 is not installed).

Mirrors ``ContentPackConfigLoader._assign_default_values``: the rule by which StackStorm
builds the config an action receives from the pack's config schema.  A key missing from the
config gets the schema's ``default``; every ``object`` with properties (or an
additionalProperties schema) is created, as ``{}`` when absent, and filled recursively;
every ``array`` with ``items`` is created, as ``[]`` when absent, and its items filled.
(patternProperties, which this pack does not use, are left out.)
"""


class ContentPackConfigLoader(object):
    def _assign_default_values(self, schema, config):
        items = schema.items() if isinstance(schema, dict) else enumerate(schema)
        for key, item in items:
            if isinstance(config, dict):
                present = key in config
            else:
                present = key < len(config)
            if "default" in item and not present:
                config[key] = item["default"]
            try:
                value = config[key]
            except (KeyError, IndexError):
                value = None
            if item.get("type") == "object":
                if item.get("properties") or item.get("additionalProperties"):
                    if not value:
                        value = config[key] = {}
                    self._assign_default_values(
                        self._get_object_properties_schema(item, value.keys()), value)
            elif item.get("type") == "array":
                if item.get("items") or item.get("additionalItems"):
                    if not value:
                        value = config[key] = []
                    self._assign_default_values(
                        self._get_array_items_schema(item, len(value)), value)
        return config

    @staticmethod
    def _get_object_properties_schema(object_schema, object_keys=None):
        flattened = {key: {} for key in object_keys or ()}
        properties = object_schema.get("properties", {})
        flattened.update(properties)
        additional = object_schema.get("additionalProperties", {})
        if additional and isinstance(additional, dict):
            for key in set(object_keys or ()) - set(properties):
                flattened[key] = additional
        return flattened

    @staticmethod
    def _get_array_items_schema(array_schema, items_count=0):
        items = array_schema.get("items", [])
        if isinstance(items, dict):
            return [items] * items_count
        return list(items)
