Feature: Envoy passthrough to external services
  The installation option outboundTrafficPolicy.mode decides what a sidecar does with a
  call to a service missing from Istio's registry. ALLOW_ANY, the default, lets such
  calls through, so a mesh can be tried without first declaring every external service;
  REGISTRY_ONLY blocks every host that has no HTTP service or ServiceEntry in the mesh.
  The price of ALLOW_ANY is that the mesh neither monitors nor controls that traffic.

  Background:
    Given the sleep pod is running with a sidecar

  @doc-envoy-passthrough
  Scenario: The mesh allows calls to unknown services by default
    Unless the installation set REGISTRY_ONLY explicitly, the mode is ALLOW_ANY: read
    from the mesh as it came up, before any scenario changed or reset the mode.

    Then the mesh as installed has outbound traffic policy mode "ALLOW_ANY" [block envoy-配置外部服务.1]

  @doc-envoy-passthrough @drift
  Scenario: The istio configmap shows the mode line
    The page confirms the mode by finding "mode: ALLOW_ANY" in the istio configmap of
    istio-system, and switches modes by editing that line with sed.

    When the page's command is run as written [block envoy-配置外部服务.1]
    Then it prints what the page shows [block envoy-配置外部服务.1]

  @doc-envoy-passthrough
  Scenario: An explicit REGISTRY_ONLY mode is switched back to ALLOW_ANY
    The page's tip for an installation that set REGISTRY_ONLY explicitly: its edit of the
    istio configmap turns the mode back to ALLOW_ANY, and the sidecar then passes unknown
    hosts through again.

    Given the outbound traffic policy mode is set to "REGISTRY_ONLY"
    When the outbound traffic policy mode is set to "ALLOW_ANY" [block envoy-配置外部服务.2]
    Then the outbound traffic policy mode is "ALLOW_ANY"

  @doc-envoy-passthrough
  Scenario Outline: An HTTPS request to <host> succeeds under ALLOW_ANY
    A few HTTPS requests from the sleep pod to services that are not in the registry
    all come back with status 200: the sidecar passes them through.

    Given the outbound traffic policy mode is "ALLOW_ANY"
    When the source pod runs "curl -I https://<host>" [block envoy-配置外部服务.3, command <n>]
    Then the command exits with code 0 [block envoy-配置外部服务.3, command <n>]
    And the response status line is "HTTP/2 200" [block envoy-配置外部服务.3, command <n>]

    Examples:
      | host            | n |
      | www.google.com  | 1 |
      | edition.cnn.com | 2 |
