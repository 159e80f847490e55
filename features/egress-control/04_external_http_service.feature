Feature: Access an external HTTP service
  With the mesh blocking unknown hosts, a ServiceEntry declares httpbin.org (port 80,
  HTTP, DNS resolution, outside the mesh) so the sleep pod may reach it again, this time
  through the sidecar: the request carries the proxy's headers and is logged, so the mesh
  can monitor and control it.

  Background:
    Given the sleep pod is running with a sidecar
    And the outbound traffic policy mode is set to "REGISTRY_ONLY" [block 修改为默认阻止策略.1]
    And the ServiceEntry "httpbin-ext" is applied [block 访问外部-http-服务.1]:
      """
      apiVersion: networking.istio.io/v1alpha3
      kind: ServiceEntry
      metadata:
        name: httpbin-ext
      spec:
        hosts:
        - httpbin.org
        ports:
        - number: 80
          name: http
          protocol: HTTP
        resolution: DNS
        location: MESH_EXTERNAL
      """

  @doc-http-service-entry
  Scenario: The ServiceEntry lets the pod reach httpbin.org through the sidecar
    A request for httpbin.org/headers is answered with the request headers httpbin
    received; among them is X-Envoy-Decorator-Operation, added by the Istio sidecar,
    which names the route the request took.

    When the source pod runs "curl http://httpbin.org/headers" [block 访问外部-http-服务.2]
    Then the HTTP status code is 200
    And the echoed request headers include "Host: httpbin.org" [block 访问外部-http-服务.2]
    And the echoed request headers include "X-Envoy-Decorator-Operation: httpbin.org:80/*" [block 访问外部-http-服务.2]

  @doc-http-service-entry
  Scenario: The sidecar logs the request to httpbin.org
    The sidecar's log gets an entry for the request, with its HTTP details: method,
    path, response code, the host, and the outbound cluster built from the ServiceEntry.

    When the source pod runs "curl http://httpbin.org/headers" [block 访问外部-http-服务.2]
    Then the sidecar's log has a new entry whose upstream cluster is "outbound|80||httpbin.org" [block 访问外部-http-服务.3]:
      """
      [2019-01-24T12:17:11.640Z] "GET /headers HTTP/1.1" 200 - 0 599 214 214 "-" "curl/7.60.0" "17fde8f7-fa62-9b39-8999-302324e6def2" "httpbin.org" "35.173.6.94:80" outbound|80||httpbin.org - 35.173.6.94:80 172.30.109.82:55314 -
      """
    And that entry's method is "GET" [block 访问外部-http-服务.3]
    And that entry's path is "/headers" [block 访问外部-http-服务.3]
    And that entry's response code is "200" [block 访问外部-http-服务.3]
    And that entry's authority is "httpbin.org" [block 访问外部-http-服务.3]

  @doc-http-service-entry @drift
  Scenario: Mixer's telemetry log records the HTTP request
    The page reads Mixer's telemetry log (Istio in istio-system) for the request and
    points out destinationServiceHost equal to httpbin.org and the HTTP attributes
    method, url and responseCode: the mesh monitors each access with its HTTP details.

    When the page's command is run as written [block 访问外部-http-服务.4]
    Then it prints what the page shows [block 访问外部-http-服务.4]
