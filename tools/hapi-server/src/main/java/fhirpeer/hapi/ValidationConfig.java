package fhirpeer.hapi;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.config.JpaConfig;
import ca.uhn.fhir.validation.FhirValidator;
import ca.uhn.fhir.validation.IInstanceValidatorModule;
import org.hl7.fhir.common.hapi.validation.support.UnknownCodeSystemWarningValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.hl7.fhir.r4.model.Patient;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.SmartInitializingSingleton;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.env.Environment;

/**
 * The request-validation switch: {@code fhirpeer.validation=true} (or env HAPI_REQUEST_VALIDATION=1).
 *
 * <p>When on, HAPI's RequestValidatingInterceptor (registered in FhirServerConfig) validates every request body
 * with the JPA validation support chain (R4 StructureDefinitions from hapi-fhir-validation-resources-r4).
 * No terminology server is reachable here, so code systems that the chain cannot resolve (SNOMED CT, NUCC,
 * local systems, ...) are reported as warnings instead of errors.
 */
@Configuration
public class ValidationConfig {

	private static final Logger ourLog = LoggerFactory.getLogger(ValidationConfig.class);

	/** Whether request validation is on. */
	public record Switch(boolean enabled) {}

	@Bean
	public Switch validationSwitch(Environment env) {
		boolean on = env.getProperty("fhirpeer.validation", Boolean.class, false);
		String envVar = System.getenv("HAPI_REQUEST_VALIDATION");
		if (envVar != null && (envVar.equals("1") || envVar.equalsIgnoreCase("true") || envVar.equalsIgnoreCase("yes"))) {
			on = true;
		}
		return new Switch(on);
	}

	/**
	 * Appends an unknown-code-system module to the end of the JPA chain (so it answers only for code systems that
	 * no other module knows) and, when validation is on, validates one resource before the port opens so the
	 * first real request does not pay for loading the StructureDefinitions.
	 */
	@Bean
	public SmartInitializingSingleton validationChainSetup(
			Switch validation,
			@Qualifier(JpaConfig.JPA_VALIDATION_SUPPORT_CHAIN) IValidationSupport chain,
			FhirContext fhirContext,
			@Qualifier("myInstanceValidator") IInstanceValidatorModule instanceValidator) {
		return () -> {
			if (!validation.enabled()) {
				return;
			}
			UnknownCodeSystemWarningValidationSupport unknown = new UnknownCodeSystemWarningValidationSupport(fhirContext);
			unknown.setNonExistentCodeSystemSeverity(IValidationSupport.IssueSeverity.WARNING);
			((ValidationSupportChain) chain).addValidationSupport(unknown);
			long t0 = System.currentTimeMillis();
			FhirValidator validator = fhirContext.newValidator();
			validator.registerValidatorModule(instanceValidator);
			Patient p = new Patient();
			p.addName().setFamily("Warmup");
			validator.validateWithResult(p);
			ourLog.info("Validator warmed up in {} ms", System.currentTimeMillis() - t0);
		};
	}
}
