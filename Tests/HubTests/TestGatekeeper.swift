import Hub
import NIOCore

/// A gatekeeper made of closures, answering at once (`decided`) unless `pending` is set.
struct TestGatekeeper: StompGatekeeper {
    var authenticateWith: @Sendable (StompHeaders) -> Result<Principal, StompError> = { _ in .success(.anonymous) }
    var allowsWith: @Sendable (Principal, AccessAction, Destination) -> Bool = { _, _, _ in true }
    var needsReviewWith: @Sendable (Principal, AccessAction, Destination) -> Bool = { _, _, _ in false }
    var reviewWith: @Sendable (StompReview.Action) -> Result<StompReview.Outcome, StompError> = { _ in .success(.allow) }

    func authenticate(_ request: StompConnectRequest) -> StompVerdict<Principal> { .decided(authenticateWith(request.headers)) }

    func allows(_ principal: Principal, _ action: AccessAction, _ destination: Destination) -> Bool {
        allowsWith(principal, action, destination)
    }

    func needsReview(_ principal: Principal, _ action: AccessAction, _ destination: Destination) -> Bool {
        needsReviewWith(principal, action, destination)
    }

    func review(_ request: StompReview) -> StompVerdict<StompReview.Outcome> { .decided(reviewWith(request.action)) }
}
