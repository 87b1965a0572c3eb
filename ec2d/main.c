/* ec2d: the instance daemon of vpclab. Instances (libvirt LXC and QEMU) are not built yet;
 * this binary answers --help and says so, so that scripts fail clearly rather than oddly. */
#include <stdio.h>
#include <string.h>
#include "cli.h"

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		printf("usage: ec2d VERB ...\n\nec2d will own instances (run-instances, describe-instances, ...).\n"
		       "It is not implemented yet: use vpcd for the network verbs.\n");
		return argc < 2 ? EXIT_USAGE : 0;
	}
	fprintf(stderr, "\nAn error occurred (UnsupportedOperation) when calling the %s operation: "
			"ec2d is not implemented yet in this vpclab version\n",
		argv[1]);
	return EXIT_API_ERROR;
}
