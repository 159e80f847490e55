Feature: Istio refuses invalid resources
  Not a section of the page: the suite's own check that a mistake in a resource is
  refused the way a real cluster refuses it, with one line that names the field, and
  that nothing of a refused stream is left behind: each stream starts with a valid
  resource, which must not be applied either. A reader who mistypes the page's YAML
  meets these messages.

  @suite-validation
  Scenario: A ServiceEntry with a misspelt resolution is refused
    The CRD schema admits only the resolutions Istio knows; "DSN" is not one of them.

    Given a ServiceEntry that Istio must refuse:
      """
      apiVersion: networking.istio.io/v1alpha3
      kind: ServiceEntry
      metadata:
        name: google
      spec:
        hosts:
        - www.google.com
        ports:
        - number: 443
          name: https
          protocol: HTTPS
        resolution: DNS
        location: MESH_EXTERNAL
      ---
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
        resolution: DSN
        location: MESH_EXTERNAL
      """
    Then applying it is refused with "spec.resolution: Unsupported value: \"DSN\""
    And no ServiceEntry named "httpbin-ext" exists
    And no ServiceEntry named "google" exists

  @suite-validation
  Scenario: A ServiceEntry with an unknown port protocol is refused
    Istio's validating webhook admits only the protocols it can route.

    Given a ServiceEntry that Istio must refuse:
      """
      apiVersion: networking.istio.io/v1alpha3
      kind: ServiceEntry
      metadata:
        name: google
      spec:
        hosts:
        - www.google.com
        ports:
        - number: 443
          name: https
          protocol: HTTPS
        resolution: DNS
        location: MESH_EXTERNAL
      ---
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
          protocol: HTTPX
        resolution: DNS
        location: MESH_EXTERNAL
      """
    Then applying it is refused with "unsupported protocol: HTTPX"
    And no ServiceEntry named "httpbin-ext" exists
    And no ServiceEntry named "google" exists

  @suite-validation
  Scenario: A VirtualService timeout without a unit is refused
    Durations need a unit, as in the page's "3s"; "3" alone is not a duration, and the
    CRD's rule says so, naming the field.

    Given a VirtualService that Istio must refuse:
      """
      apiVersion: networking.istio.io/v1alpha3
      kind: ServiceEntry
      metadata:
        name: google
      spec:
        hosts:
        - www.google.com
        ports:
        - number: 443
          name: https
          protocol: HTTPS
        resolution: DNS
        location: MESH_EXTERNAL
      ---
      apiVersion: networking.istio.io/v1alpha3
      kind: VirtualService
      metadata:
        name: httpbin-ext
      spec:
        hosts:
          - httpbin.org
        http:
        - timeout: "3"
          route:
            - destination:
                host: httpbin.org
              weight: 100
      """
    Then applying it is refused with "spec.http[0].timeout: Invalid value: \"string\": type conversion error from 'string' to 'google.protobuf.Duration' evaluating rule: must be a valid duration greater than 1ms"
    And no VirtualService named "httpbin-ext" exists
    And no ServiceEntry named "google" exists
