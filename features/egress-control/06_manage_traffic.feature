Feature: Manage traffic to external services
  Traffic to a service declared by a ServiceEntry obeys Istio's routing rules like
  traffic inside the mesh. The page shows it with a timeout: a VirtualService gives
  httpbin.org a 3 second timeout, and a request that takes 5 seconds is cut short.

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

  @doc-manage-traffic @slow
  Scenario: A VirtualService timeout of 3 s cuts a 5 s request short with 504
    Without a routing rule, httpbin.org's /delay/5 answers 200 (OK) after about five
    seconds. Once the VirtualService sets a 3 second timeout, the same request gets
    504 (Gateway Timeout) after about three seconds: httpbin.org would still wait its
    five seconds, but Istio cuts the request off at three.

    When the source pod runs "curl -o /dev/null -s -w "%{http_code}\n" http://httpbin.org/delay/5" [block 管理外部服务的流量.1, command 2]
    Then the command prints "200" [block 管理外部服务的流量.1, command 2]
    And it took between 4.5 and 7 seconds [block 管理外部服务的流量.1, command 2]
    When the VirtualService "httpbin-ext" is applied [block 管理外部服务的流量.2]:
      """
      apiVersion: networking.istio.io/v1alpha3
      kind: VirtualService
      metadata:
        name: httpbin-ext
      spec:
        hosts:
          - httpbin.org
        http:
        - timeout: 3s
          route:
            - destination:
                host: httpbin.org
              weight: 100
      """
    And the source pod runs "curl -o /dev/null -s -w "%{http_code}\n" http://httpbin.org/delay/5" [block 管理外部服务的流量.3, command 2]
    Then the command prints "504" [block 管理外部服务的流量.3, command 2]
    And it took between 2.8 and 4.4 seconds [block 管理外部服务的流量.3, command 2]
