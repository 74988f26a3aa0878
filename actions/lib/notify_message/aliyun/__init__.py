"""Alibaba Cloud's RPC-style OpenAPI: ``signing`` (the signature and the products),
``account`` (the ``aliyun`` config section) and ``client`` (signed requests, answers)."""
