/*
 * host.m — verdictd.app's executable: asks macOS to activate or deactivate
 * the verdictd system extension inside the app, and says what happened.
 *
 *	/Applications/verdictd.app/Contents/MacOS/verdictd-host activate
 *	/Applications/verdictd.app/Contents/MacOS/verdictd-host deactivate
 *
 * The extension's bundle identifier comes from the app's Info.plist
 * (VDExtensionIdentifier), which tools/build-macos writes.  macOS only
 * activates extensions of an app in /Applications, signed with the
 * system-extension entitlement (tools/sign-macos).  The first activation
 * waits for the user (or an MDM profile) to approve the extension; the
 * request stays pending until then, and this program waits with it.
 */
#import <Foundation/Foundation.h>
#import <SystemExtensions/SystemExtensions.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: verdictd-host activate | deactivate\n"
    "\n"
    "  activate    install or update the verdictd system extension in this\n"
    "              app (the app must be in /Applications)\n"
    "  deactivate  remove it\n"
    "  -h, --help  print this help and exit\n"
    "\n"
    "Exit status: 0 done (or done after a reboot), 1 the request failed,\n"
    "2 usage error.\n";

/* The names of OSSystemExtensionErrorCode, with what to do about each. */
static const char *
error_hint(NSInteger code)
{
	switch (code) {
	case OSSystemExtensionErrorMissingEntitlement:
		return "the app lacks com.apple.developer.system-extension."
		       "install: sign it with tools/sign-macos";
	case OSSystemExtensionErrorUnsupportedParentBundleLocation:
		return "move verdictd.app to /Applications first";
	case OSSystemExtensionErrorExtensionNotFound:
		return "no extension with that identifier in "
		       "Contents/Library/SystemExtensions";
	case OSSystemExtensionErrorExtensionMissingIdentifier:
		return "the extension's Info.plist has no CFBundleIdentifier";
	case OSSystemExtensionErrorDuplicateExtensionIdentifer:
		return "two extensions share the identifier";
	case OSSystemExtensionErrorUnknownExtensionCategory:
		return "the extension's Info.plist names no known category";
	case OSSystemExtensionErrorCodeSignatureInvalid:
		return "the code signature is invalid: sign and notarize with "
		       "tools/sign-macos";
	case OSSystemExtensionErrorValidationFailed:
		return "macOS refused the extension (entitlements, team ID or "
		       "Info.plist)";
	case OSSystemExtensionErrorForbiddenBySystemPolicy:
		return "a system policy (MDM) forbids this extension";
	case OSSystemExtensionErrorRequestCanceled:
		return "the request was canceled";
	case OSSystemExtensionErrorRequestSuperseded:
		return "a newer request replaced this one";
	case OSSystemExtensionErrorAuthorizationRequired:
		return "the user did not authorize the request";
	default:
		return "unknown error";
	}
}

@interface VDRequestDelegate : NSObject <OSSystemExtensionRequestDelegate>
@property(nonatomic) BOOL activating;
@end

@implementation VDRequestDelegate

- (OSSystemExtensionReplacementAction)
                        request:(OSSystemExtensionRequest *)request
    actionForReplacingExtension:(OSSystemExtensionProperties *)existing
                  withExtension:(OSSystemExtensionProperties *)ext
{
	(void)request;
	printf("verdictd-host: replacing version %s (%s) with %s (%s)\n",
	    existing.bundleShortVersion.UTF8String,
	    existing.bundleVersion.UTF8String,
	    ext.bundleShortVersion.UTF8String, ext.bundleVersion.UTF8String);
	fflush(stdout);
	return OSSystemExtensionReplacementActionReplace;
}

- (void)requestNeedsUserApproval:(OSSystemExtensionRequest *)request
{
	(void)request;
	printf("verdictd-host: waiting for approval: open System Settings > "
	       "Privacy & Security (System Preferences > Security & Privacy "
	       "on macOS 12) and allow the system extension \"%s\", or "
	       "install an MDM com.apple.system-extension-policy profile.  "
	       "Then grant it Full Disk Access.  The request stays pending "
	       "until approved; Ctrl-C stops waiting here, not the "
	       "request.\n",
	    request.identifier.UTF8String);
	fflush(stdout);
}

- (void)request:(OSSystemExtensionRequest *)request
    didFinishWithResult:(OSSystemExtensionRequestResult)result
{
	const char *what = self.activating ? "activated" : "deactivated";

	if (result == OSSystemExtensionRequestWillCompleteAfterReboot)
		printf("verdictd-host: %s %s after the next reboot\n",
		    request.identifier.UTF8String, what);
	else
		printf("verdictd-host: %s %s\n", request.identifier.UTF8String,
		    what);
	exit(fflush(stdout) == 0 ? 0 : 1);
}

- (void)request:(OSSystemExtensionRequest *)request
    didFailWithError:(NSError *)error
{
	const char *what = self.activating ? "activate" : "deactivate";

	if ([error.domain isEqualToString:OSSystemExtensionErrorDomain])
		fprintf(stderr,
		    "verdictd-host: cannot %s %s: %s (%s, code %ld)\n", what,
		    request.identifier.UTF8String, error_hint(error.code),
		    error.localizedDescription.UTF8String, (long)error.code);
	else
		fprintf(stderr, "verdictd-host: cannot %s %s: %s (%s %ld)\n",
		    what, request.identifier.UTF8String,
		    error.localizedDescription.UTF8String,
		    error.domain.UTF8String, (long)error.code);
	exit(1);
}

@end

int
main(int argc, char *argv[])
{
	@autoreleasepool {
		VDRequestDelegate *delegate;
		OSSystemExtensionRequest *req;
		NSString *ident;
		dispatch_queue_t q = dispatch_get_main_queue();

		if (argc == 2 &&
		    (strcmp(argv[1], "-h") == 0 ||
		        strcmp(argv[1], "--help") == 0)) {
			fputs(usage, stdout);
			return fflush(stdout) == 0 ? 0 : 1;
		}
		if (argc != 2 ||
		    (strcmp(argv[1], "activate") != 0 &&
		        strcmp(argv[1], "deactivate") != 0)) {
			fputs(usage, stderr);
			return 2;
		}
		ident = [NSBundle.mainBundle
		    objectForInfoDictionaryKey:@"VDExtensionIdentifier"];
		if (ident == nil) {
			fprintf(stderr,
			    "verdictd-host: no VDExtensionIdentifier in the "
			    "app's Info.plist: run this from inside "
			    "verdictd.app\n");
			return 1;
		}
		delegate = [VDRequestDelegate new];
		delegate.activating = strcmp(argv[1], "activate") == 0;
		req = delegate.activating
		    ? [OSSystemExtensionRequest
		          activationRequestForExtension:ident
		                                  queue:q]
		    : [OSSystemExtensionRequest
		          deactivationRequestForExtension:ident
		                                    queue:q];
		req.delegate = delegate;
		printf("verdictd-host: asking macOS to %s %s\n", argv[1],
		    ident.UTF8String);
		fflush(stdout);
		[OSSystemExtensionManager.sharedManager submitRequest:req];
		/* The delegate exits. */
		dispatch_main();
	}
}
